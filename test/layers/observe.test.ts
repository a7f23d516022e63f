import { describe, expect, it } from 'vitest';
import { UpstreamError } from '../../src/errors.js';
import { createMetrics, type Metrics } from '../../src/metrics.js';
import type { CallRequest, CallResult } from '../../src/transport/call.js';
import { observeAttempts, observeCalls } from '../../src/transport/observe.js';
import { callRequest, capturingLogger, json, scripted } from './fakes.js';

const sample = async (metric: { get(): Promise<{ values: { labels: object; value: number }[] }> }, labels: object = {}) =>
  (await metric.get()).values.find((entry) => JSON.stringify(entry.labels) === JSON.stringify(labels))?.value ?? 0;

describe('the observe layers', () => {
  const newMetrics = (): Metrics => createMetrics();

  it('write one line per call: info for a fetch, with its retries and budget wait from the report', async () => {
    const metrics = newMetrics();
    const { logger, lines } = capturingLogger();
    const next = async (request: CallRequest): Promise<CallResult> => {
      request.report?.budgetWaited(30);
      request.report?.attemptFailed(new UpstreamError('UPSTREAM_UNAVAILABLE', 'down', { endpoint: request.path, status: 503 }), 1, true);
      request.report?.budgetWaited(20);
      return json({ data: [] }, 200);
    };
    const result = await observeCalls({ metrics, cache: { bytes: 1234 } })(next)(callRequest({ logger }));
    expect(result.value).toEqual({ data: [] });
    expect(lines.map((line) => [line.level, line.msg])).toEqual([
      [40, 'upstream call failed'],
      [30, 'upstream call'],
    ]);
    expect(lines[0]).toMatchObject({
      endpoint: '/v1/things',
      status: 503,
      attempt: 1,
      retry: true,
      code: 'UPSTREAM_UNAVAILABLE',
      tenant: 'label-a',
    });
    expect(lines[1]).toMatchObject({ endpoint: '/v1/things', status: 200, cache: 'miss', retries: 1, budgetWaitMs: 50, tenant: 'label-a' });
    expect(typeof lines[1]?.durationMs).toBe('number');
    expect(await sample(metrics.cacheLookups, { class: 'leads', outcome: 'miss' })).toBe(1);
    expect(await sample(metrics.cacheBytes)).toBe(1234);
    expect(await sample(metrics.upstreamRetries, { endpoint: '/v1/things' })).toBe(1);
    expect(await sample(metrics.limiterWaits)).toBe(2);
    expect((await metrics.limiterWaitSeconds.get()).values.find((entry) => entry.metricName?.endsWith('_sum'))?.value).toBeCloseTo(0.05);
  });

  it('log a cache answer at debug, count it by outcome, and count budget refusals', async () => {
    const metrics = newMetrics();
    const { logger, lines } = capturingLogger();
    const call = observeCalls({ metrics, cache: { bytes: 0 } });
    await call(async () => ({ value: 1, status: 200, cache: 'hit' }))(callRequest({ logger, cacheClass: 'reference' }));
    await call(async () => ({ value: 1, status: 200, cache: 'shared' }))(callRequest({ logger }));
    await expect(
      call(async (request) => {
        request.report?.budgetRefused();
        throw new UpstreamError('UPSTREAM_RATE_LIMITED', 'used up', { endpoint: request.path, retryAfter: 60 });
      })(callRequest({ logger })),
    ).rejects.toThrow('used up');
    expect(lines.map((line) => [line.level, line.cache])).toEqual([
      [20, 'hit'],
      [20, 'shared'],
    ]);
    expect(await sample(metrics.cacheLookups, { class: 'reference', outcome: 'hit' })).toBe(1);
    expect(await sample(metrics.cacheLookups, { class: 'leads', outcome: 'shared' })).toBe(1);
    expect(await sample(metrics.limiterRejections)).toBe(1);
  });

  it('count and time every attempt by endpoint and status, timeouts and network failures included', async () => {
    const metrics = newMetrics();
    const next = scripted(
      json('ok', 200),
      new UpstreamError('UPSTREAM_UNAVAILABLE', 'failed (503)', { endpoint: '/v1/things', status: 503 }),
      new UpstreamError('UPSTREAM_TIMEOUT', 'no answer', { endpoint: '/v1/things' }),
      new UpstreamError('UPSTREAM_UNAVAILABLE', 'unreachable', { endpoint: '/v1/things' }),
    );
    const call = observeAttempts({ metrics })(next);
    for (let i = 0; i < 4; i += 1) await call(callRequest()).catch(() => undefined);
    for (const status of ['200', '503', 'timeout', 'network']) {
      expect(await sample(metrics.upstreamCalls, { endpoint: '/v1/things', status })).toBe(1);
    }
    const count = (await metrics.upstreamDuration.get()).values.find((entry) => entry.metricName?.endsWith('_count'));
    expect(count?.value).toBe(4);
  });
});
