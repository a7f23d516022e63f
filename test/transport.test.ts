import { describe, expect, it } from 'vitest';
import { createUpstreamCache } from '../src/transport/cache.js';
import { createRateLimiter, RateLimitExceeded } from '../src/transport/limiter.js';

describe('the rate limiter', () => {
  it('never grants more than the limit in any rolling window, queueing the rest in order', async () => {
    const limiter = createRateLimiter({ limit: 5, windowMs: 300, maxWaitMs: 2_000 });
    const granted: number[] = [];
    await Promise.all(
      Array.from({ length: 12 }, async () => {
        await limiter.acquire('a');
        granted.push(Date.now());
      }),
    );
    expect(granted).toHaveLength(12);
    for (let i = 5; i < granted.length; i += 1) expect((granted[i] as number) - (granted[i - 5] as number)).toBeGreaterThanOrEqual(295);
  });

  it('fails fast, with the time until a slot frees, when the wait would exceed the maximum', async () => {
    let now = 1_000_000;
    const limiter = createRateLimiter({ limit: 2, windowMs: 60_000, maxWaitMs: 100, now: () => now });
    await limiter.acquire('a');
    await limiter.acquire('a');
    const started = Date.now();
    const error = await limiter.acquire('a').catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(RateLimitExceeded);
    expect((error as RateLimitExceeded).retryAfterSeconds).toBe(60);
    expect(Date.now() - started).toBeLessThan(50);
    // Another credential has its own budget.
    await expect(limiter.acquire('b')).resolves.toEqual({ waitedMs: 0 });
    // 'b' took nothing of 'a', and the refused call reserved no slot: 'a' is still full, and one
    // window later both its slots (and no more) are free again at once.
    await expect(limiter.acquire('a')).rejects.toBeInstanceOf(RateLimitExceeded);
    now += 60_000;
    await expect(limiter.acquire('a')).resolves.toEqual({ waitedMs: 0 });
    await expect(limiter.acquire('a')).resolves.toEqual({ waitedMs: 0 });
    await expect(limiter.acquire('a')).rejects.toBeInstanceOf(RateLimitExceeded);
  });

  it('stops waiting when the caller aborts', async () => {
    const limiter = createRateLimiter({ limit: 1, windowMs: 10_000, maxWaitMs: 20_000 });
    await limiter.acquire('a');
    const controller = new AbortController();
    const waiting = limiter.acquire('a', controller.signal);
    setTimeout(() => controller.abort(new Error('client gone')), 20);
    await expect(waiting).rejects.toThrow('client gone');
  });
});

describe('the upstream cache', () => {
  const value = (text: string) => async () => ({ value: text, size: text.length });

  it('serves a hit within the TTL and reloads after it', async () => {
    let now = 0;
    const cache = createUpstreamCache({ maxBytes: 1000, now: () => now });
    expect((await cache.getOrLoad('k', 100, value('one'))).outcome).toBe('miss');
    expect(await cache.getOrLoad('k', 100, value('two'))).toEqual({ value: 'one', outcome: 'hit' });
    now = 101;
    expect(await cache.getOrLoad('k', 100, value('two'))).toEqual({ value: 'two', outcome: 'miss' });
  });

  it('evicts the least recently used entries past its size bound', async () => {
    const cache = createUpstreamCache({ maxBytes: 10 });
    await cache.getOrLoad('a', 1000, value('aaaa'));
    await cache.getOrLoad('b', 1000, value('bbbb'));
    await cache.getOrLoad('a', 1000, value('xxxx')); // touch a
    await cache.getOrLoad('c', 1000, value('cccc')); // evicts b
    expect(cache.bytes).toBeLessThanOrEqual(10);
    expect((await cache.getOrLoad('a', 1000, value('new'))).outcome).toBe('hit');
    expect((await cache.getOrLoad('b', 1000, value('new'))).outcome).toBe('miss');
  });

  it('coalesces identical loads in flight and never caches a failure', async () => {
    const cache = createUpstreamCache({ maxBytes: 1000 });
    let loads = 0;
    const slow = async () => {
      loads += 1;
      await new Promise((resolve) => setTimeout(resolve, 20));
      return { value: 'v', size: 1 };
    };
    const results = await Promise.all(Array.from({ length: 10 }, () => cache.getOrLoad('k', 1000, slow)));
    expect(loads).toBe(1);
    expect(results.filter((result) => result.outcome === 'coalesced')).toHaveLength(9);

    let attempts = 0;
    const failing = async () => {
      attempts += 1;
      throw new Error('upstream down');
    };
    await expect(cache.getOrLoad('f', 1000, failing)).rejects.toThrow('upstream down');
    await expect(cache.getOrLoad('f', 1000, failing)).rejects.toThrow('upstream down');
    expect(attempts).toBe(2);
  });

  it('aborts a shared load only when every caller has gone', async () => {
    const cache = createUpstreamCache({ maxBytes: 1000 });
    let aborted = false;
    const load = (signal: AbortSignal) =>
      new Promise<{ value: unknown; size: number }>((resolve, reject) => {
        const timer = setTimeout(() => resolve({ value: 'done', size: 4 }), 50);
        signal.addEventListener('abort', () => {
          aborted = true;
          clearTimeout(timer);
          reject(new Error('aborted'));
        });
      });
    const first = new AbortController();
    const second = new AbortController();
    const a = cache.getOrLoad('k', 1000, load, first.signal).catch(() => 'a gone');
    const b = cache.getOrLoad('k', 1000, load, second.signal);
    first.abort();
    expect(await a).toBe('a gone');
    expect(await b).toEqual({ value: 'done', outcome: 'coalesced' });
    expect(aborted).toBe(false);

    const third = new AbortController();
    const c = cache.getOrLoad('j', 1000, load, third.signal).catch(() => 'c gone');
    third.abort();
    expect(await c).toBe('c gone');
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(aborted).toBe(true);
  });

  it('starts a new load for a caller that comes after every caller of the old one has gone, instead of joining its cancellation', async () => {
    const cache = createUpstreamCache({ maxBytes: 1000 });
    const signals: AbortSignal[] = [];
    // The cancelled load takes a while to notice, as one stuck in a Redis command would.
    const load = (signal: AbortSignal) => {
      signals.push(signal);
      return new Promise<{ value: unknown; size: number }>((resolve, reject) => {
        const timer = setTimeout(() => resolve({ value: `load ${signals.length}`, size: 6 }), 40);
        signal.addEventListener('abort', () => setTimeout(() => reject(new Error('cancelled')), 20));
        signal.addEventListener('abort', () => clearTimeout(timer));
      });
    };
    const gone = new AbortController();
    const first = cache.getOrLoad('k', 1000, load, gone.signal).catch(() => 'first gone');
    gone.abort();
    const second = cache.getOrLoad('k', 1000, load, new AbortController().signal);
    expect(await first).toBe('first gone');
    expect(await second).toEqual({ value: 'load 2', outcome: 'miss' });
    expect(signals.map((signal) => signal.aborted)).toEqual([true, false]);
    // The cancelled load settling later does not drop the new one's entry.
    const third = await cache.getOrLoad('k', 1000, load, new AbortController().signal);
    expect(third).toEqual({ value: 'load 2', outcome: 'hit' });
  });
});

describe('upstream error bodies', () => {
  it('reads NestJS, problem+json and Kommo validation-errors bodies, and names an HTML page instead of echoing it', async () => {
    const { describeBody } = await import('../src/transport/http.js');
    expect(
      describeBody('{"statusCode":400,"message":["workspaceId should not be empty","limit must be a number"],"error":"Bad Request"}'),
    ).toBe('workspaceId should not be empty; limit must be a number');
    expect(describeBody('{"title":"Unauthorized","type":"https://httpstatus.es/401","status":401,"detail":"Account not found"}')).toBe(
      'Account not found',
    );
    expect(
      describeBody(
        '{"title":"Bad Request","type":"https://httpstatus.es/400","status":400,"validation-errors":[{"request_id":"0","errors":[{"code":"NotSupportedChoice","path":"filter.statuses.0.status_id","detail":"The value you selected is not a valid choice."}]}]}',
      ),
    ).toBe('Bad Request (filter.statuses.0.status_id: The value you selected is not a valid choice.)');
    expect(
      describeBody(
        '{"title":"Too Many Requests","type":"https://httpstatus.es/429","status":429,"detail":"Too many requests","retry_after":300}',
      ),
    ).toBe('Too many requests');
    expect(describeBody('<html><head><title>403 Forbidden</title></head><body>nginx</body></html>')).toBe('an HTML page');
    expect(describeBody('x'.repeat(1000))).toHaveLength(301);
  });
});
