import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { UpstreamError } from '../../src/errors.js';
import { refused } from '../../src/transport/call.js';
import { retry } from '../../src/transport/retry.js';
import { callRequest, json, recordingReport, scripted } from './fakes.js';

const failure = (code: UpstreamError['code'], status?: number, retryAfter?: number) =>
  new UpstreamError(code, `failed ${status ?? code}`, {
    endpoint: '/v1/things',
    ...(status === undefined ? {} : { status }),
    ...(retryAfter === undefined ? {} : { retryAfter }),
  });

const options = { retries: 2, backoffMs: 100, maxWaitMs: 5_000, upstreamName: 'Test API', random: () => 0.5 };

describe('the retry layer', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('retries a network error and a timeout with exponential backoff, reporting each failed attempt', async () => {
    const next = scripted(failure('UPSTREAM_UNAVAILABLE'), failure('UPSTREAM_TIMEOUT'), json('ok'));
    const report = recordingReport();
    const result = retry(options)(next)(callRequest({ report }));
    // random 0.5 x 100 ms x 2^attempt: 50 ms, then 100 ms.
    await vi.advanceTimersByTimeAsync(49);
    expect(next.calls).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(next.calls).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(99);
    expect(next.calls).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(1);
    expect((await result).value).toBe('ok');
    expect(report.events).toEqual([
      { kind: 'failed', code: 'UPSTREAM_UNAVAILABLE', attempt: 1, retry: true },
      { kind: 'failed', code: 'UPSTREAM_TIMEOUT', attempt: 2, retry: true },
    ]);
  });

  it('gives up after the capped attempts with the last failure', async () => {
    const next = scripted(failure('UPSTREAM_UNAVAILABLE', 500), failure('UPSTREAM_UNAVAILABLE', 502), failure('UPSTREAM_UNAVAILABLE', 503));
    const report = recordingReport();
    const result = retry(options)(next)(callRequest({ report })).catch((caught: unknown) => caught);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(((await result) as UpstreamError).status).toBe(503);
    expect(next.calls).toHaveLength(3);
    expect(report.events.map((event) => event.kind === 'failed' && event.retry)).toEqual([true, true, false]);
  });

  it('never retries a 4xx or a bad response', async () => {
    for (const error of [
      failure('UPSTREAM_BAD_REQUEST', 400),
      failure('UPSTREAM_UNAUTHORIZED', 401),
      failure('UPSTREAM_FORBIDDEN', 403),
      failure('UPSTREAM_BAD_RESPONSE', 200),
    ]) {
      const next = scripted(error, json('ok'));
      const report = recordingReport();
      await expect(retry(options)(next)(callRequest({ report }))).rejects.toBe(error);
      expect(next.calls).toHaveLength(1);
      expect(report.events).toEqual([{ kind: 'failed', code: error.code, attempt: 1, retry: false }]);
    }
  });

  it("waits what a 429's Retry-After says instead of the backoff", async () => {
    const next = scripted(failure('UPSTREAM_RATE_LIMITED', 429, 2), json('ok'));
    const result = retry({ ...options, backoffMs: 1 })(next)(callRequest());
    await vi.advanceTimersByTimeAsync(1_999);
    expect(next.calls).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect((await result).value).toBe('ok');
  });

  it('fails at once when Retry-After asks for longer than the maximum wait', async () => {
    const error = failure('UPSTREAM_RATE_LIMITED', 429, 120);
    const next = scripted(error, json('ok'));
    const report = recordingReport();
    await expect(retry(options)(next)(callRequest({ report }))).rejects.toBe(error);
    expect(next.calls).toHaveLength(1);
    expect(report.events).toEqual([{ kind: 'failed', code: 'UPSTREAM_RATE_LIMITED', attempt: 1, retry: false }]);
  });

  it("passes a layer's refusal on untouched: not retried, not a failed attempt", async () => {
    const refusal = refused(failure('UPSTREAM_RATE_LIMITED', undefined, 0));
    const next = scripted(refusal, json('ok'));
    const report = recordingReport();
    await expect(retry(options)(next)(callRequest({ report }))).rejects.toBe(refusal);
    expect(next.calls).toHaveLength(1);
    expect(report.events).toEqual([]);
  });

  it('stops backing off when the caller goes away, and does not retry for a caller already gone', async () => {
    const gone = new AbortController();
    const next = scripted(failure('UPSTREAM_UNAVAILABLE', 503), json('ok'));
    const result = retry(options)(next)(callRequest({ signal: gone.signal })).catch((caught: unknown) => caught);
    await vi.advanceTimersByTimeAsync(10);
    gone.abort(new Error('client gone'));
    const error = (await result) as UpstreamError;
    expect(error.message).toBe('Test API call was cancelled because the request ended');
    expect(next.calls).toHaveLength(1);

    const report = recordingReport();
    const cancelled = failure('UPSTREAM_UNAVAILABLE');
    await expect(retry(options)(scripted(cancelled))(callRequest({ signal: gone.signal, report }))).rejects.toBe(cancelled);
    expect(report.events).toEqual([{ kind: 'failed', code: 'UPSTREAM_UNAVAILABLE', attempt: 1, retry: false }]);
  });
});
