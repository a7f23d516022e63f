import { afterEach, describe, expect, it, vi } from 'vitest';
import { UpstreamError } from '../../src/errors.js';
import { isRefused } from '../../src/transport/call.js';
import { networkOf, rejectedCredentials } from '../../src/transport/rejected-credentials.js';
import { callRequest, json, scripted, tenant } from './fakes.js';

const unauthorized = () =>
  new UpstreamError('UPSTREAM_UNAUTHORIZED', 'Test API rejected the credentials (401)', { endpoint: '/v1/things', status: 401 });

describe('the rejected-credentials layer', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('answers a credential the upstream rejected with the same error, without calling, until it is forgotten', async () => {
    vi.useFakeTimers();
    const next = scripted(unauthorized(), json('ok'));
    const call = rejectedCredentials({ rememberMs: 30_000, maxCredentials: 100 })(next);
    const wrong = callRequest({ tenant: tenant('wrong') });
    await expect(call(wrong)).rejects.toMatchObject({ code: 'UPSTREAM_UNAUTHORIZED' });
    for (let i = 0; i < 5; i += 1) {
      const error = await call(wrong).catch((caught: unknown) => caught);
      expect(error).toMatchObject({ code: 'UPSTREAM_UNAUTHORIZED', message: 'Test API rejected the credentials (401)' });
      expect(isRefused(error)).toBe(true);
    }
    expect(next.calls).toHaveLength(1);
    vi.advanceTimersByTime(30_001);
    expect(await call(wrong)).toEqual(json('ok'));
    expect(next.calls).toHaveLength(2);
  });

  it('remembers only 401s, and only for the credential that got one', async () => {
    const down = new UpstreamError('UPSTREAM_UNAVAILABLE', 'down', { endpoint: '/v1/things', status: 503 });
    const next = scripted(unauthorized(), down, json('ok'));
    const call = rejectedCredentials({ rememberMs: 30_000, maxCredentials: 100 })(next);
    await expect(call(callRequest({ tenant: tenant('wrong') }))).rejects.toMatchObject({ code: 'UPSTREAM_UNAUTHORIZED' });
    await expect(call(callRequest({ tenant: tenant('right') }))).rejects.toMatchObject({ code: 'UPSTREAM_UNAVAILABLE' });
    expect(await call(callRequest({ tenant: tenant('right') }))).toEqual(json('ok'));
    expect(next.calls.map((request) => request.tenant.credentialKey)).toEqual(['credential-wrong', 'credential-right', 'credential-right']);
  });

  it('budgets failed authentications per network and per account from it, never holding back a credential it accepted', async () => {
    let now = 0;
    const next = async (request: Parameters<ReturnType<typeof scripted>>[0]) => {
      if (request.tenant.credentialKey.startsWith('credential-guess')) throw unauthorized();
      return json('ok');
    };
    const call = rejectedCredentials({ rememberMs: 30_000, maxCredentials: 100, failuresPerMinute: 3, now: () => now })(next);
    const guess = (i: number, address = '10.0.0.1') =>
      callRequest({ tenant: { ...tenant(`guess-${i}`), accountKey: 'account-a' }, scope: { client: 'c', priority: 'client', address } });
    // Accepted before the guesses start.
    expect(await call(callRequest({ tenant: { ...tenant('right'), accountKey: 'account-a' } }))).toEqual(json('ok'));
    for (let i = 0; i < 3; i += 1) await expect(call(guess(i))).rejects.toMatchObject({ code: 'UPSTREAM_UNAUTHORIZED' });
    const refusedUnasked = await call(guess(3)).catch((error: unknown) => error);
    expect(refusedUnasked).toMatchObject({ code: 'UNAUTHENTICATED', extensions: { retryAfter: 60 } });
    expect(isRefused(refusedUnasked)).toBe(true);
    // Another network is not affected, for another account or for the guessed one; the accepted credential neither.
    const elsewhere = callRequest({ tenant: tenant('new'), scope: { client: 'c', priority: 'client', address: '10.0.1.2' } });
    expect(await call(elsewhere)).toEqual(json('ok'));
    const ownerElsewhere = callRequest({
      tenant: { ...tenant('right-2'), accountKey: 'account-a' },
      scope: { client: 'c', priority: 'client', address: '192.168.7.7' },
    });
    expect(await call(ownerElsewhere)).toEqual(json('ok'));
    expect(await call(callRequest({ tenant: { ...tenant('right'), accountKey: 'account-a' } }))).toEqual(json('ok'));
    // Another address of the same network, under another account, is still over the network's budget.
    const otherAccount = callRequest({ tenant: tenant('guess-x'), scope: { client: 'c', priority: 'client', address: '10.0.0.99' } });
    await expect(call(otherAccount)).rejects.toMatchObject({ code: 'UNAUTHENTICATED' });
    // A minute later the budget is back.
    now = 61_000;
    await expect(call(guess(4))).rejects.toMatchObject({ code: 'UPSTREAM_UNAUTHORIZED' });
  });

  it('bounds calls in flight per accepted credential, and for all unaccepted ones together', async () => {
    let inFlight = 0;
    let most = 0;
    const release: (() => void)[] = [];
    const next = async () => {
      inFlight += 1;
      most = Math.max(most, inFlight);
      await new Promise<void>((resolve) => release.push(resolve));
      inFlight -= 1;
      return json('ok');
    };
    const call = rejectedCredentials({ rememberMs: 30_000, maxCredentials: 100, callsInFlightPerCredential: 2 })(next);
    const calls = Array.from({ length: 6 }, (_, i) => call(callRequest({ tenant: tenant(`new-${i}`) })));
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(inFlight).toBe(2); // six new credentials, one shared share of two
    const aborted = new AbortController();
    const leaving = call(callRequest({ tenant: tenant('new-x'), signal: aborted.signal }));
    aborted.abort(new Error('gone'));
    await expect(leaving).rejects.toThrow('gone');
    for (let i = 0; i < 6; i += 1) {
      release.shift()?.();
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    await Promise.all(calls);
    expect(most).toBe(2);
  });

  it('groups addresses by network: IPv4 /24, IPv6 /64, IPv4-mapped as IPv4', () => {
    expect(networkOf('10.1.2.3')).toBe('10.1.2.0/24');
    expect(networkOf('::ffff:10.1.2.200')).toBe('10.1.2.0/24');
    expect(networkOf('2001:db8:0:1:aaaa::1')).toBe('2001:db8:0:1::/64');
    expect(networkOf('2001:db8::1')).toBe('2001:db8:0:0::/64');
    expect(networkOf('::1')).toBe('0:0:0:0::/64');
    expect(networkOf(undefined)).toBe('unknown');
  });
});
