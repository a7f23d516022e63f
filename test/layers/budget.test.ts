import { describe, expect, it } from 'vitest';
import { UpstreamError } from '../../src/errors.js';
import { budget } from '../../src/transport/budget.js';
import { isRefused } from '../../src/transport/call.js';
import { createRateLimiter, RateLimitExceeded, type RateLimiter } from '../../src/transport/limiter.js';
import { callRequest, json, recordingReport, scripted, tenant } from './fakes.js';

const layer = (limiter: RateLimiter) => budget({ limiter, upstreamName: 'Test API', budgetVariable: 'TEST_RATE' });

describe('the budget layer', () => {
  it("lets a call go once the limiter grants its slot, asking for the call's client, reporting how long it waited", async () => {
    const keys: string[] = [];
    const scopes: unknown[] = [];
    const limiter: RateLimiter = {
      acquire: async (key, _signal, options) => {
        keys.push(key);
        scopes.push(options?.scope);
        return { waitedMs: keys.length === 1 ? 0 : 40 };
      },
    };
    const report = recordingReport();
    const next = scripted(json('ok'));
    const call = layer(limiter)(next);
    await call(callRequest({ report }));
    await call(callRequest({ report }));
    expect(next.calls).toHaveLength(2);
    expect(keys).toEqual(['credential-a', 'credential-a']);
    expect(scopes).toEqual([
      { client: 'client-a', priority: 'client' },
      { client: 'client-a', priority: 'client' },
    ]);
    expect(report.events).toEqual([{ kind: 'waited', ms: 40 }]);
  });

  it('queues a call over budget behind the slot it reserved', async () => {
    // A clock that stands still: the second slot is exactly one window after the first.
    const call = layer(createRateLimiter({ limit: 1, windowMs: 50, maxWaitMs: 1_000, now: () => 0 }))(scripted(json('ok')));
    const report = recordingReport();
    await call(callRequest());
    await call(callRequest({ report }));
    expect(report.events).toEqual([{ kind: 'waited', ms: 50 }]);
  });

  it('refuses a call whose slot is beyond the maximum wait, naming the setting, as a refusal, per credential', async () => {
    const next = scripted(json('ok'));
    const call = layer(createRateLimiter({ limit: 1, windowMs: 60_000, maxWaitMs: 100 }))(next);
    await call(callRequest());
    const report = recordingReport();
    const error = await call(callRequest({ report })).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(UpstreamError);
    expect((error as UpstreamError).extensions).toEqual({ code: 'UPSTREAM_RATE_LIMITED', endpoint: '/v1/things', retryAfter: 60 });
    expect((error as UpstreamError).message).toBe('The Test API budget of this gateway is used up for now (TEST_RATE); retry in 60 s');
    expect(isRefused(error)).toBe(true);
    expect(report.events).toEqual([{ kind: 'refused' }]);
    // Another credential has a budget of its own.
    await call(callRequest({ tenant: tenant('b') }));
    expect(next.calls.map((request) => request.tenant.credentialKey)).toEqual(['credential-a', 'credential-b']);
  });

  it('stops waiting when the caller goes away, and says why: the client, or the request deadline', async () => {
    const next = scripted(json('ok'));
    const call = layer(createRateLimiter({ limit: 1, windowMs: 60_000, maxWaitMs: 120_000 }))(next);
    await call(callRequest());
    const gone = new AbortController();
    const waiting = call(callRequest({ signal: gone.signal })).catch((caught: unknown) => caught);
    setTimeout(() => gone.abort(new Error('client gone')), 10);
    const error = await waiting;
    expect((error as UpstreamError).code).toBe('UPSTREAM_UNAVAILABLE');
    expect((error as UpstreamError).message).toBe('Test API call was cancelled because the request ended');
    expect(isRefused(error)).toBe(true);

    const late = new AbortController();
    late.abort(new DOMException('deadline', 'TimeoutError'));
    const timedOut = await call(callRequest({ signal: late.signal })).catch((caught: unknown) => caught);
    expect((timedOut as UpstreamError).code).toBe('UPSTREAM_TIMEOUT');
    expect(next.calls).toHaveLength(1);
  });

  it('takes the seconds until a slot frees from the limiter, local or shared alike', async () => {
    const limiter: RateLimiter = {
      acquire: async () => {
        throw new RateLimitExceeded(3);
      },
    };
    const error = await layer(limiter)(scripted(json('ok')))(callRequest()).catch((caught: unknown) => caught);
    expect((error as UpstreamError).extensions.retryAfter).toBe(3);
  });
});
