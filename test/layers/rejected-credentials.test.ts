import { afterEach, describe, expect, it, vi } from 'vitest';
import { UpstreamError } from '../../src/errors.js';
import { isRefused } from '../../src/transport/call.js';
import { rejectedCredentials } from '../../src/transport/rejected-credentials.js';
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
});
