/**
 * The cross-request cache of upstream GET results: entries with a TTL, evicted least recently used
 * when the total size passes `maxBytes`, and identical requests in flight coalesced into one.
 * Failures are never cached. Keys always include the tenant (see cacheKey in call.ts).
 */

export interface CacheOptions {
  readonly maxBytes: number;
  readonly now?: () => number;
}

interface Entry {
  readonly value: unknown;
  readonly size: number;
  readonly expires: number;
}

export type CacheOutcome = 'hit' | 'miss' | 'coalesced';

interface Flight {
  readonly promise: Promise<unknown>;
  readonly controller: AbortController;
  /** Callers with a signal still waiting for it. */
  waiters: number;
}

export interface UpstreamCache {
  /**
   * The cached value for `key`, or the result of `load` (run once however many callers ask at the
   * same time). `load` returns the value and its size in bytes; `ttlMs` 0 skips storing.
   */
  getOrLoad(
    key: string,
    ttlMs: number,
    load: (signal: AbortSignal) => Promise<{ value: unknown; size: number }>,
    signal?: AbortSignal,
  ): Promise<{ value: unknown; outcome: CacheOutcome }>;
  readonly bytes: number;
  clear(): void;
}

export function createUpstreamCache(options: CacheOptions): UpstreamCache {
  const now = options.now ?? Date.now;
  const entries = new Map<string, Entry>(); // insertion order = recency order
  // A load in flight is shared; it is aborted only when every caller waiting for it has gone away.
  const inFlight = new Map<string, Flight>();
  let bytes = 0;
  /** Drops `flight` from the loads in flight, unless another load for its key has taken its place. */
  const forget = (key: string, flight: Flight): void => {
    if (inFlight.get(key) === flight) inFlight.delete(key);
  };

  const remove = (key: string): void => {
    const entry = entries.get(key);
    if (!entry) return;
    entries.delete(key);
    bytes -= entry.size;
  };

  const store = (key: string, value: unknown, size: number, ttlMs: number): void => {
    remove(key);
    if (ttlMs <= 0 || size > options.maxBytes) return;
    entries.set(key, { value, size, expires: now() + ttlMs });
    bytes += size;
    for (const oldest of entries.keys()) {
      if (bytes <= options.maxBytes) break;
      remove(oldest);
    }
  };

  return {
    async getOrLoad(key, ttlMs, load, signal) {
      signal?.throwIfAborted();
      const entry = entries.get(key);
      if (entry && entry.expires > now()) {
        entries.delete(key);
        entries.set(key, entry);
        return { value: entry.value, outcome: 'hit' };
      }
      if (entry) remove(key);
      let flight = inFlight.get(key);
      const outcome: CacheOutcome = flight ? 'coalesced' : 'miss';
      if (!flight) {
        const controller = new AbortController();
        const promise = load(controller.signal).then(({ value, size }) => {
          store(key, value, size, ttlMs);
          return value;
        });
        const started = { promise, controller, waiters: 0 };
        flight = started;
        inFlight.set(key, started);
        const settled = (): void => forget(key, started);
        promise.then(settled, settled);
      }
      const shared = flight;
      shared.waiters += 1;
      if (!signal) return { value: await shared.promise, outcome };
      let onAbort = (): void => undefined;
      const aborted = new Promise<never>((_, reject) => {
        onAbort = () => {
          shared.waiters -= 1;
          if (shared.waiters === 0) {
            // A caller that comes now starts a load of its own instead of joining one being cancelled.
            forget(key, shared);
            shared.controller.abort(signal.reason);
          }
          reject(signal.reason);
        };
        signal.addEventListener('abort', onAbort, { once: true });
      });
      try {
        return { value: await Promise.race([shared.promise, aborted]), outcome };
      } finally {
        signal.removeEventListener('abort', onAbort);
      }
    },
    get bytes() {
      return bytes;
    },
    clear() {
      entries.clear();
      bytes = 0;
    },
  };
}
