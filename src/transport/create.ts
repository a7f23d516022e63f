/** The transport of one gateway, wired from its config: upstream cache, Redis (when configured), the budget, the layered upstream. */
import type { Logger } from 'pino';
import { Counter, Gauge } from 'prom-client';
import type { Dispatcher } from 'undici';
import type { Config } from '../config.js';
import type { Metrics } from '../metrics.js';
import { type BreakerRules, createBreaker } from './breaker.js';
import { createUpstreamCache, type UpstreamCache } from './cache.js';
import { createFairLimiter } from './fair.js';
import type { ResponseRules } from './http.js';
import { createRateLimiter } from './limiter.js';
import { createSharedRateLimiter, createSharedStore, type SharedData, type SharedStore } from './shared.js';
import { createUpstream, type Upstream } from './upstream.js';

/** What the transport needs to know of the source: where, what it is called, its budget and HTTP rules. */
export interface UpstreamTarget {
  readonly baseUrl: string;
  readonly upstreamName: string;
  readonly budget: { readonly limit: number; readonly windowMs: number; readonly variable: string };
  readonly responseRules?: ResponseRules | undefined;
  /** When to stop calling for an account for a cool-down (LEADGRAPH_UPSTREAM_COOLDOWN_SECONDS); none for an upstream that does not ban. */
  readonly breaker?: BreakerRules | undefined;
  /** Requests bring their own credentials: tenants share the connections, each within its share. */
  readonly multiTenant: boolean;
}

export interface Transport {
  readonly upstream: Upstream;
  readonly cache: UpstreamCache;
  /** Redis as the replicas' shared store: `off` without LEADGRAPH_REDIS_URL. */
  redisState(): 'up' | 'down' | 'off';
  /** The Redis the replicas share (LEADGRAPH_REDIS_URL), or null. */
  readonly shared: (SharedStore & SharedData) | null;
  /** The account breaker: `open` while an account cools down; undefined for an upstream without one. */
  breakerState(): 'open' | 'closed' | undefined;
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
  const slots = shared
    ? createSharedRateLimiter(
        shared,
        budget,
        createRateLimiter({ ...budget, limit: Math.max(1, Math.floor(budget.limit / config.expectedReplicas)) }),
      )
    : createRateLimiter(budget);
  // In front of it, per credential: clients take turns, and none holds more than its share of a window.
  const overShare = new Counter({
    name: 'leadgraph_limiter_over_share_total',
    help: 'Upstream calls that arrived while their client held its whole share of the budget window (LEADGRAPH_CLIENT_BUDGET_SHARE): they waited for it to free, or were refused.',
    labelNames: ['priority'],
    registers: [metrics.registry],
  });
  const limiter = createFairLimiter({
    limiter: slots,
    ...budget,
    share: config.clientBudgetShare,
    onOverShare: (priority) => overShare.inc({ priority }),
  });
  new Gauge({
    name: 'leadgraph_limiter_queued_calls',
    help: 'Upstream calls waiting for their turn at the rate budget, by priority (client requests, background work).',
    labelNames: ['priority'],
    registers: [metrics.registry],
    collect() {
      for (const [priority, count] of Object.entries(limiter.queued())) this.set({ priority }, count);
    },
  });
  const breaker = target.breaker
    ? createBreaker({
        ...target.breaker,
        cooldownMs: config.upstreamCooldownSeconds * 1000,
        upstreamName: target.upstreamName,
        onOpen: (tenant, reason, cooldownMs) =>
          deps.logger.warn(
            { tenant, reason, cooldownSeconds: cooldownMs / 1000 },
            `${target.upstreamName}: no calls for this account during the cool-down (${reason === 'forbidden' ? 'an HTML 403: the account looks blocked' : 'repeated 429s'})`,
          ),
      })
    : undefined;
  if (breaker) {
    new Gauge({
      name: 'leadgraph_upstream_breaker_open',
      help: 'Upstream accounts the gateway makes no call for, cooling down after a block (HTML 403) or repeated 429s.',
      registers: [metrics.registry],
      collect() {
        this.set(breaker.openCount());
      },
    });
  }
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
    breaker,
    authFailuresPerMinute: config.authFailuresPerMinute,
    callsInFlightPerCredential: target.multiTenant ? config.tenantCallsInFlight : undefined,
  });
  return {
    upstream,
    cache,
    redisState: () => (shared ? (shared.up ? 'up' : 'down') : 'off'),
    shared,
    breakerState: () => (breaker ? (breaker.openCount() > 0 ? 'open' : 'closed') : undefined),
    close: async () => {
      await shared?.close();
    },
  };
}
