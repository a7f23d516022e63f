/** The shared cache layer: bodies in Redis, so one replica's fetch serves the others. */
import { createHash } from 'node:crypto';
import { type CallResult, cacheKey, type Layer } from './call.js';
import { type CacheClass, ttlOf } from './http.js';
import type { SharedStore } from './shared.js';

export interface SharedCacheOptions {
  readonly store: SharedStore;
  /** TTL per cache class; 0 neither reads nor writes Redis. */
  readonly ttlMs: Readonly<Record<CacheClass, number>>;
  /** How long one replica may hold the fetch lock of a miss (and the others wait for it). */
  readonly lockMs: number;
}

/**
 * A body another replica stored is answered from Redis. On a miss one replica takes the fetch lock
 * and fetches; the others wait for its result (each within its own request's signal), one of them
 * takes the lock over when the holder lets go without a result, and they fetch themselves when none
 * comes within lockMs. Redis trouble never fails a call: the store answers "nothing" and the call goes
 * on to the upstream.
 */
export function sharedCache(options: SharedCacheOptions): Layer {
  const { store, lockMs } = options;
  const fromStore = (text: string): CallResult => ({
    value: text === '' ? null : (JSON.parse(text) as unknown),
    status: 200,
    received: { text, bytes: Buffer.byteLength(text) },
    cache: 'shared',
  });
  return (next) => async (request) => {
    const ttlMs = ttlOf(options.ttlMs, request.cacheClass);
    if (ttlMs <= 0) return next(request);
    const key = createHash('sha256').update(cacheKey(request)).digest('hex');
    const cached = await store.get(key);
    if (cached !== null) return fromStore(cached);
    let token = await store.lock(key, lockMs);
    // Another replica is fetching it: wait for its body, and take over when it lets go without one (its
    // fetch failed, or the request behind it ended) rather than wait out lockMs for nothing.
    const until = Date.now() + lockMs;
    while (token === null && store.up) {
      const waited = await store.waitFor(key, until - Date.now(), request.signal);
      if (waited.outcome === 'arrived') return fromStore(waited.body);
      if (waited.outcome === 'gave-up') break;
      token = await store.lock(key, lockMs);
    }
    try {
      const result = await next(request);
      // A body the adapter cannot decode is a failed call: it must not wait in Redis for every replica.
      // Decoding it twice costs little, at a miss (the budget bounds those) with Redis configured.
      if (result.received) {
        request.decode(result.value);
        await store.set(key, result.received.text, ttlMs);
      }
      return result;
    } finally {
      if (token !== null) await store.unlock(key, token);
    }
  };
}
