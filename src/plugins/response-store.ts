/**
 * Where Yoga's response cache keeps whole results: least recently used first out, bounded by the
 * bytes of their JSON (LEADGRAPH_RESPONSE_CACHE_MB) as well as by count. The package's in-memory
 * cache counts entries only, and 250 large pages of 2 MB each held 550 MB of heap for their TTL.
 */
import type { Cache } from '@graphql-yoga/plugin-response-cache';
import type { ExecutionResult } from 'graphql';
import { LRUCache } from 'lru-cache';

export interface ResponseStoreOptions {
  readonly maxBytes: number;
  readonly maxEntries: number;
  /** @default Date.now */
  readonly now?: () => number;
}

export interface ResponseStore extends Cache {
  /** JSON bytes of the results held. */
  readonly bytes: number;
  readonly size: number;
  /** Milliseconds the entry of this key has left; 0 when there is none. */
  remainingMs(id: string): number;
}

export function createResponseStore(options: ResponseStoreOptions): ResponseStore {
  const entries = new LRUCache<string, ExecutionResult>({
    max: options.maxEntries,
    maxSize: options.maxBytes,
    // The size is given at set time: the result is encoded once there.
    sizeCalculation: () => 1,
    perf: { now: options.now ?? Date.now },
  });
  return {
    get: (id) => entries.get(id),
    set(id, data, _entities, ttl) {
      const size = Buffer.byteLength(JSON.stringify(data));
      // A result larger than the whole budget is not kept (lru-cache would refuse it anyway).
      if (size > options.maxBytes) return;
      entries.set(id, data, { ttl, size });
    },
    // Nothing invalidates by entity here: no mutations, and entries expire with the upstream cache's TTL.
    invalidate: () => undefined,
    remainingMs: (id) => {
      const left = entries.getRemainingTTL(id);
      return Number.isFinite(left) && left > 0 ? left : 0;
    },
    get bytes() {
      return entries.calculatedSize;
    },
    get size() {
      return entries.size;
    },
  };
}
