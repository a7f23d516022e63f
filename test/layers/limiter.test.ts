import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createRateLimiter, RateLimitExceeded } from '../../src/transport/limiter.js';

describe('the local rate limiter', () => {
  beforeEach(() => {
    vi.useFakeTimers();
    vi.setSystemTime(0);
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('refuses a slot beyond the wait the caller has left, never beyond its own maximum', async () => {
    const limiter = createRateLimiter({ limit: 1, windowMs: 1_000, maxWaitMs: 5_000 });
    await limiter.acquire('a');
    const error = await limiter.acquire('a', undefined, { maxWaitMs: 999 }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(RateLimitExceeded);
    const granted = limiter.acquire('a', undefined, { maxWaitMs: 60_000 });
    await vi.advanceTimersByTimeAsync(1_000);
    expect(await granted).toEqual({ waitedMs: 1_000 });
    // 60 s asked for, 5 s allowed: slots 1 to 5 s away are reserved, the one 6 s away is refused.
    const queued = Array.from({ length: 5 }, () => limiter.acquire('a', undefined, { maxWaitMs: 60_000 }));
    const refused = await limiter.acquire('a', undefined, { maxWaitMs: 60_000 }).catch((caught: unknown) => caught);
    expect((refused as RateLimitExceeded).retryAfterSeconds).toBe(6);
    await vi.advanceTimersByTimeAsync(5_000);
    expect((await Promise.all(queued)).map((grant) => grant.waitedMs)).toEqual([1_000, 2_000, 3_000, 4_000, 5_000]);
  });

  it('gives back the slot of a caller that aborts while it waits', async () => {
    const limiter = createRateLimiter({ limit: 1, windowMs: 1_000, maxWaitMs: 5_000 });
    await limiter.acquire('a');
    const gone = new AbortController();
    const waiting = limiter.acquire('a', gone.signal).catch((caught: unknown) => caught);
    gone.abort(new Error('client gone'));
    expect(await waiting).toEqual(new Error('client gone'));
    // The next caller gets the slot at 1 s, not the one after it at 2 s.
    const next = limiter.acquire('a');
    await vi.advanceTimersByTimeAsync(1_000);
    expect(await next).toEqual({ waitedMs: 1_000 });
  });

  it('drops keys idle for a window in a sweep at most once per window', async () => {
    const limiter = createRateLimiter({ limit: 10, windowMs: 1_000, maxWaitMs: 1_000 });
    for (let i = 0; i < 100; i += 1) await limiter.acquire(`credential-${i}`);
    expect(limiter.keys).toBe(100);
    await vi.advanceTimersByTimeAsync(999);
    await limiter.acquire('fresh');
    expect(limiter.keys).toBe(101);
    await vi.advanceTimersByTimeAsync(1_001);
    await limiter.acquire('later');
    expect(limiter.keys).toBe(1);
  });
});
