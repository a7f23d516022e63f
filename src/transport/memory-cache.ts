/** The memory cache layer: decoded values per tenant and request, with identical calls in flight coalesced. */
import type { UpstreamCache } from './cache.js';
import { type CallResult, cacheKey, isRefused, type Layer } from './call.js';
import { type CacheClass, ttlOf } from './http.js';

export interface MemoryCacheOptions {
  readonly cache: UpstreamCache;
  /** TTL per cache class; 0 keeps nothing (identical calls in flight are still coalesced). */
  readonly ttlMs: Readonly<Record<CacheClass, number>>;
}

/**
 * Decodes what the layers below return (`request.decode`) and keeps the decoded value, so a warm
 * call neither parses nor decodes again. The load runs under a signal of its own, aborted only when
 * every caller waiting for it has gone; a caller that goes away is rejected with its signal's reason.
 */
export function memoryCache(options: MemoryCacheOptions): Layer {
  return (next) => async (request) => {
    const key = cacheKey(request);
    let ranHere = false;
    const attempt = async (): Promise<CallResult> => {
      let loaded: CallResult | undefined;
      const { value, outcome } = await options.cache.getOrLoad(
        key,
        ttlOf(options.ttlMs, request.cacheClass),
        async (signal) => {
          ranHere = true;
          const result = await next({ ...request, signal });
          loaded = result;
          return { value: request.decode(result.value), size: result.received?.bytes ?? 0 };
        },
        request.signal,
      );
      if (outcome === 'miss' && loaded) return { ...loaded, value };
      return { value, status: 200, cache: outcome === 'miss' ? undefined : outcome };
    };
    try {
      return await attempt();
    } catch (error) {
      // A refusal (no budget slot within a client's share, a request's call allowance spent) belongs to
      // the request whose scope the shared load ran under: one that only joined it tries once under its own.
      if (ranHere || !isRefused(error)) throw error;
      return attempt();
    }
  };
}
