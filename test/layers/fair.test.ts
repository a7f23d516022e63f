import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createFairLimiter, type FairLimiterOptions } from '../../src/transport/fair.js';
import { type BudgetScope, createRateLimiter, RateLimitExceeded, type RateLimiter } from '../../src/transport/limiter.js';
import { createSharedRateLimiter, type SharedStore } from '../../src/transport/shared.js';

const client = (name: string): BudgetScope => ({ client: name, priority: 'client' });
const background = (name: string): BudgetScope => ({ client: name, priority: 'background' });

interface Budget {
  readonly limit: number;
  readonly windowMs: number;
  readonly maxWaitMs: number;
  readonly share?: number;
}

/** A fair limiter over a local one, and a log of who was granted when (ms since it was made). */
function fairOver(budget: Budget, extra: Partial<FairLimiterOptions> = {}) {
  const slots = createRateLimiter(budget);
  const limiter = createFairLimiter({ limiter: slots, ...budget, ...extra });
  const granted: { who: string; at: number; waitedMs: number }[] = [];
  const start = Date.now();
  const ask = (who: string, scope: BudgetScope, signal?: AbortSignal, key = 'credential') =>
    limiter.acquire(key, signal, { scope }).then(
      ({ waitedMs }) => {
        granted.push({ who, at: Date.now() - start, waitedMs });
        return waitedMs;
      },
      (error: unknown) => error,
    );
  return { limiter, slots, granted, ask, order: () => granted.map((grant) => grant.who) };
}

describe('the fair limiter', () => {
  beforeEach(() => {
    vi.useFakeTimers();
    vi.setSystemTime(0);
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('serves waiting clients round-robin, first come first served within a client', async () => {
    // One call a window: every call after the first waits, so the order is the scheduler's.
    const { ask, order } = fairOver({ limit: 1, windowMs: 100, maxWaitMs: 10_000, share: 1 });
    const all = [
      ask('a1', client('a')),
      ask('a2', client('a')),
      ask('a3', client('a')),
      ask('b1', client('b')),
      ask('b2', client('b')),
      ask('c1', client('c')),
    ];
    await vi.advanceTimersByTimeAsync(1_000);
    await Promise.all(all);
    expect(order()).toEqual(['a1', 'b1', 'c1', 'a2', 'b2', 'a3']);
  });

  it('serves a client with one call behind a client with 100 next, even without a cap', async () => {
    const { ask, granted, order } = fairOver({ limit: 2, windowMs: 100, maxWaitMs: 100_000, share: 1 });
    // x and a1 fill the window; a2 goes to the limiter for the next slot (100 ms) and the other 98 queue.
    const calls = [ask('x1', client('x')), ...Array.from({ length: 100 }, (_, i) => ask(`a${i + 1}`, client('a')))];
    await vi.advanceTimersByTimeAsync(50);
    const other = ask('b1', client('b'));
    await vi.advanceTimersByTimeAsync(50);
    await other;
    // b1 takes the slot right after the one a2 already held at the limiter.
    expect(order()).toEqual(['x1', 'a1', 'a2', 'b1']);
    expect(granted[3]).toMatchObject({ who: 'b1', at: 100, waitedMs: 50 });
    await vi.advanceTimersByTimeAsync(10_000);
    await Promise.all(calls);
    expect(granted).toHaveLength(102);
    expect(order()[4]).toBe('a3');
  });

  it('holds each client to its share of the window, alone or not, and keeps the rest for others', async () => {
    // Share 0.5 of 4: two calls a window for each client.
    const { ask, granted } = fairOver({ limit: 4, windowMs: 1_000, maxWaitMs: 10_000 });
    const greedy = Array.from({ length: 5 }, (_, i) => ask(`a${i + 1}`, client('a')));
    await vi.advanceTimersByTimeAsync(500);
    // a3 waits although two slots are free: they are the reserve another client finds.
    expect(granted.map((grant) => grant.who)).toEqual(['a1', 'a2']);
    await ask('b1', client('b'));
    expect(granted.at(-1)).toMatchObject({ who: 'b1', at: 500, waitedMs: 0 });
    await vi.advanceTimersByTimeAsync(3_000);
    await Promise.all(greedy);
    const times = (who: string) => granted.filter((grant) => grant.who.startsWith(who)).map((grant) => grant.at);
    expect(times('a')).toEqual([0, 0, 1_000, 1_000, 2_000]);
    // Never more than two of a's grants in any rolling window.
    for (const [i, at] of times('a').entries()) {
      expect(times('a').filter((other, j) => j > i && other < at + 1_000).length).toBeLessThanOrEqual(1);
    }
  });

  it('refuses at once a call its client share cannot let go within the maximum wait, with the seconds until it could', async () => {
    const { ask, slots } = fairOver({ limit: 4, windowMs: 60_000, maxWaitMs: 1_000 });
    await ask('a1', client('a'));
    await vi.advanceTimersByTimeAsync(5_000);
    await ask('a2', client('a'));
    const refusal = await ask('a3', client('a'));
    expect(refusal).toBeInstanceOf(RateLimitExceeded);
    // a1's grant leaves the window 55 s from now.
    expect((refusal as RateLimitExceeded).retryAfterSeconds).toBe(55);
    // The refused call took no slot: b still has two.
    expect(await ask('b1', client('b'))).toBe(0);
    expect(await ask('b2', client('b'))).toBe(0);
    expect(slots.keys).toBe(1);
  });

  it('refuses a call whose turn has not come by the end of its maximum wait', async () => {
    // A limiter that takes 2 s to answer (a slow shared store): the second call's 1.5 s run out in the queue.
    const slow: RateLimiter = { acquire: () => new Promise((resolve) => setTimeout(() => resolve({ waitedMs: 2_000 }), 2_000)) };
    const limiter = createFairLimiter({ limiter: slow, limit: 10, windowMs: 1_000, maxWaitMs: 1_500, share: 1 });
    const first = limiter.acquire('credential', undefined, { scope: client('a') });
    const second = limiter.acquire('credential', undefined, { scope: client('b') }).catch((error: unknown) => error);
    expect(limiter.queued()).toEqual({ client: 1, background: 0 });
    await vi.advanceTimersByTimeAsync(1_500);
    expect(await second).toBeInstanceOf(RateLimitExceeded);
    expect(limiter.queued()).toEqual({ client: 0, background: 0 });
    await vi.advanceTimersByTimeAsync(500);
    expect(await first).toEqual({ waitedMs: 2_000 });
  });

  it('passes a queued call only the wait it has left, so the limiter refuses a slot that would come too late', async () => {
    const { ask } = fairOver({ limit: 1, windowMs: 1_000, maxWaitMs: 1_500, share: 1 });
    await ask('a1', client('a'));
    const b1 = ask('b1', client('b'));
    await vi.advanceTimersByTimeAsync(400);
    // c1 has until 1.9 s; its turn comes at 1 s, and its slot would only come at 2 s.
    const c1 = ask('c1', client('c'));
    await vi.advanceTimersByTimeAsync(600);
    expect(await b1).toBe(1_000);
    expect(await c1).toBeInstanceOf(RateLimitExceeded);
    expect(Date.now()).toBe(1_000);
  });

  it('serves background work after every waiting client call, and to its share only', async () => {
    const { ask, order, granted } = fairOver({ limit: 1, windowMs: 100, maxWaitMs: 10_000, share: 1 });
    const calls = [
      ask('x1', client('x')),
      ask('sync1', background('index-sync')),
      ask('sync2', background('index-sync')),
      ask('c1', client('c')),
      ask('d1', client('d')),
    ];
    await vi.advanceTimersByTimeAsync(50);
    calls.push(ask('c2', client('c')));
    await vi.advanceTimersByTimeAsync(1_000);
    await Promise.all(calls);
    expect(order()).toEqual(['x1', 'c1', 'd1', 'c2', 'sync1', 'sync2']);
    expect(granted.map((grant) => grant.at)).toEqual([0, 100, 200, 300, 400, 500]);

    // Background work is held to the share like any client.
    const capped = fairOver({ limit: 4, windowMs: 1_000, maxWaitMs: 10_000 });
    const sync = Array.from({ length: 3 }, (_, i) => capped.ask(`sync${i + 1}`, background('index-sync')));
    await vi.advanceTimersByTimeAsync(10);
    expect(capped.order()).toEqual(['sync1', 'sync2']);
    await capped.ask('c1', client('c'));
    await vi.advanceTimersByTimeAsync(1_000);
    await Promise.all(sync);
    expect(capped.granted.map(({ who, at }) => [who, at])).toEqual([
      ['sync1', 0],
      ['sync2', 0],
      ['c1', 10],
      ['sync3', 1_000],
    ]);
  });

  it('takes an aborted call out of the queue, rejecting it with the reason; one aborted at the limiter gives its slot back', async () => {
    const { ask, limiter, order, granted } = fairOver({ limit: 1, windowMs: 1_000, maxWaitMs: 10_000, share: 1 });
    await ask('a1', client('a'));
    const atLimiter = new AbortController();
    const queued = new AbortController();
    const b1 = ask('b1', client('b'), atLimiter.signal);
    const c1 = ask('c1', client('c'), queued.signal);
    const d1 = ask('d1', client('d'));
    expect(limiter.queued()).toEqual({ client: 2, background: 0 });
    await vi.advanceTimersByTimeAsync(100);
    queued.abort(new Error('client gone'));
    expect(await c1).toEqual(new Error('client gone'));
    expect(limiter.queued()).toEqual({ client: 1, background: 0 });
    atLimiter.abort(new Error('deadline'));
    expect(await b1).toEqual(new Error('deadline'));
    await vi.advanceTimersByTimeAsync(900);
    await d1;
    // d1 got the slot b1 gave back (1 s), not the one after it.
    expect(order()).toEqual(['a1', 'd1']);
    expect(granted[1]?.at).toBe(1_000);
    const early = new AbortController();
    early.abort(new Error('already gone'));
    expect(await ask('e1', client('e'), early.signal)).toEqual(new Error('already gone'));
  });

  it('drops idle keys and clients, of the local limiter too, in a sweep at most once a window', async () => {
    const { ask, limiter, slots } = fairOver({ limit: 100, windowMs: 1_000, maxWaitMs: 1_000 });
    for (let i = 0; i < 50; i += 1) {
      await ask(`k${i}`, client(`address-${i}`), undefined, `credential-${i % 10}`);
      await ask(`k${i}`, background('index-sync'), undefined, `credential-${i % 10}`);
    }
    expect([limiter.keys, limiter.clients, slots.keys]).toEqual([10, 60, 10]);
    // Within the window nothing is dropped (the grants still count).
    await vi.advanceTimersByTimeAsync(999);
    await ask('fresh', client('fresh'), undefined, 'credential-new');
    expect([limiter.keys, slots.keys]).toEqual([11, 11]);
    // A window on, the next call sweeps everything idle away.
    await vi.advanceTimersByTimeAsync(1_000);
    await ask('later', client('later'), undefined, 'credential-new');
    expect([limiter.keys, limiter.clients, slots.keys]).toEqual([1, 1, 1]);
  });

  it('caps by the limit the shared limiter tells: the whole budget with Redis, the fallback share without', async () => {
    const reserved: number[] = [];
    let up = true;
    const store = {
      get up() {
        return up;
      },
      async reserve(_key: string, _limit: number, _windowMs: number, maxWaitMs: number) {
        reserved.push(maxWaitMs);
        return up ? { waitMs: 0, slot: 'slot' } : null;
      },
      async release() {},
    } as unknown as SharedStore;
    const fallback = createRateLimiter({ limit: 2, windowMs: 1_000, maxWaitMs: 5_000 });
    const shared = createSharedRateLimiter(store, { limit: 6, windowMs: 1_000, maxWaitMs: 5_000 }, fallback);
    const limiter = createFairLimiter({ limiter: shared, limit: 6, windowMs: 1_000, maxWaitMs: 5_000 });
    const ask = () => limiter.acquire('credential', undefined, { scope: client('a') }).catch((error: unknown) => error);
    // With Redis: three of six; each reservation is asked with the wait the call has left.
    expect(await Promise.all([ask(), ask(), ask()])).toEqual([{ waitedMs: 0 }, { waitedMs: 0 }, { waitedMs: 0 }]);
    expect(reserved).toEqual([5_000, 5_000, 5_000]);
    await vi.advanceTimersByTimeAsync(1_000);
    up = false;
    // Without it: one of the fallback's two; the second waits for the first to leave the window.
    const later = [ask(), ask()];
    await vi.advanceTimersByTimeAsync(10);
    expect(limiter.queued()).toEqual({ client: 1, background: 0 });
    await vi.advanceTimersByTimeAsync(1_000);
    expect(await Promise.all(later)).toEqual([{ waitedMs: 0 }, { waitedMs: 1_000 }]);
  });
});
