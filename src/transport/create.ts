/** The transport of one gateway, wired from its config: upstream cache, Redis (when configured), the budget, the layered upstream. */
import type { Logger } from 'pino';
import type { Dispatcher } from 'undici';
import type { Config } from '../config.js';
import type { Metrics } from '../metrics.js';
import { createUpstreamCache, type UpstreamCache } from './cache.js';
import type { ResponseRules } from './http.js';
import { createRateLimiter } from './limiter.js';
import { createSharedRateLimiter, createSharedStore } from './shared.js';
import { createUpstream, type Upstream } from './upstream.js';

/** What the transport needs to know of the source: where, what it is called, its budget and HTTP rules. */
export interface UpstreamTarget {
  readonly baseUrl: string;
  readonly upstreamName: string;
  readonly budget: { readonly limit: number; readonly windowMs: number; readonly variable: string };
  readonly responseRules?: ResponseRules | undefined;
}

export interface Transport {
  readonly upstream: Upstream;
  readonly cache: UpstreamCache;
  /** Redis as the replicas' shared store: `off` without LEADGRAPH_REDIS_URL. */
  redisState(): 'up' | 'down' | 'off';
  close(): Promise<void>;
}

export function createTransport(
  config: Config,
  target: UpstreamTarget,
  deps: { readonly dispatcher: Dispatcher; readonly logger: Logger; readonly metrics: Metrics },
): Transport {
  const { metrics } = deps;
  const cache = createUpstreamCache({ maxBytes: config.cacheMaxMb * 1024 * 1024 });
  const budget = { limit: target.budget.limit, windowMs: target.budget.windowMs, maxWaitMs: config.rateMaxWaitMs };
  const shared = config.redisUrl
    ? createSharedStore({
        url: config.redisUrl,
        timeoutMs: config.redisTimeoutMs,
        maxValueBytes: config.redisMaxValueKb * 1024,
        logger: deps.logger,
        metrics,
      })
    : null;
  // With Redis, the budget is shared; while Redis is down, each replica keeps to a conservative share.
  const limiter = shared
    ? createSharedRateLimiter(
        shared,
        budget,
        createRateLimiter({ ...budget, limit: Math.max(1, Math.floor(budget.limit / config.expectedReplicas)) }),
      )
    : createRateLimiter(budget);
  const upstream = createUpstream({
    baseUrl: target.baseUrl,
    upstreamName: target.upstreamName,
    dispatcher: deps.dispatcher,
    timeoutMs: config.upstreamTimeoutMs,
    responseRules: target.responseRules,
    retries: config.upstreamRetries,
    backoffMs: config.retryBackoffMs,
    limiter,
    budgetVariable: target.budget.variable,
    maxWaitMs: config.rateMaxWaitMs,
    cache,
    ttlMs: { leads: config.cacheTtlLeadsSeconds * 1000, reference: config.cacheTtlReferenceSeconds * 1000 },
    metrics,
    shared: shared ?? undefined,
    sharedLockMs: config.upstreamTimeoutMs,
  });
  return {
    upstream,
    cache,
    redisState: () => (shared ? (shared.up ? 'up' : 'down') : 'off'),
    close: async () => {
      await shared?.close();
    },
  };
}
