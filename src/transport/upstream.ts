/**
 * The upstream transport, shared by all requests: the layers of call.ts stacked in one place.
 * Source adapters get a JsonGetter bound to one tenant and one request (for its logger).
 */
import type { Logger } from 'pino';
import type { Dispatcher } from 'undici';
import { UpstreamError } from '../errors.js';
import type { Metrics } from '../metrics.js';
import { allowance } from './allowance.js';
import type { Breaker } from './breaker.js';
import { budget } from './budget.js';
import type { UpstreamCache } from './cache.js';
import { type CallScope, compose } from './call.js';
import { abortError, type CacheClass, httpCall, type JsonGetter, type ResponseRules, type UpstreamRequest } from './http.js';
import type { RateLimiter } from './limiter.js';
import { memoryCache } from './memory-cache.js';
import { observeAttempts, observeCalls } from './observe.js';
import { type CredentialLedger, rejectedCredentials } from './rejected-credentials.js';
import { retry } from './retry.js';
import type { SharedStore } from './shared.js';
import { sharedCache } from './shared-cache.js';
import type { Tenant } from './tenant.js';

export interface UpstreamOptions {
  readonly baseUrl: string;
  /** e.g. "V4 API", in error messages. */
  readonly upstreamName: string;
  readonly dispatcher: Dispatcher;
  /** Headers and body timeout of one attempt. */
  readonly timeoutMs: number;
  /** This upstream's departures from plain HTTP (empty statuses, a retry delay in the body). @default none */
  readonly responseRules?: ResponseRules | undefined;
  /** Extra attempts after a network error, timeout, 5xx or 429. */
  readonly retries: number;
  /** First backoff delay; doubles per attempt, with full jitter. */
  readonly backoffMs: number;
  readonly limiter: RateLimiter;
  /** The setting that sizes the budget, named in the error when it is used up. */
  readonly budgetVariable: string;
  /** The longest a 429's Retry-After may make a call wait before it gives up. */
  readonly maxWaitMs: number;
  readonly cache: UpstreamCache;
  readonly ttlMs: Readonly<Record<CacheClass, number>>;
  readonly metrics: Metrics;
  /** Redis, shared by the replicas (LEADGRAPH_REDIS_URL): bodies behind the local cache. @default none */
  readonly shared?: SharedStore | undefined;
  /** How long one replica may hold the fetch lock of a miss (and others wait for it). @default 10000 */
  readonly sharedLockMs?: number;
  /** Stops calling for an account after a block or repeated 429s (Kommo). @default none */
  readonly breaker?: Breaker | undefined;
  /** Upstream 401s per account and per remote address a minute before new credentials are refused unasked. @default unbounded */
  readonly authFailuresPerMinute?: number | undefined;
  /** Calls in flight per credential (multi-tenant mode: each tenant's share of the connections). @default unbounded */
  readonly callsInFlightPerCredential?: number | undefined;
  /** @default Math.random */
  readonly random?: () => number;
}

export interface Upstream {
  /** The getter an adapter uses: every call it makes is for this tenant, logged with this logger, under this scope. */
  transport(tenant: Tenant, logger: Logger, scope: CallScope): JsonGetter;
  /** Whether the upstream accepted this credential lately (a call with it succeeded). */
  isAccepted(credentialKey: string): boolean;
}

export function createUpstream(options: UpstreamOptions): Upstream {
  const { metrics, upstreamName, cache, ttlMs, shared } = options;
  const ledger: CredentialLedger = { isAccepted: () => false };
  const call = compose(
    [
      // Outermost: the log line and the cache metric describe the call as the adapter saw it.
      observeCalls({ metrics, cache }),
      // First to answer: a warm call neither waits for Redis nor decodes again; identical calls in flight share one load.
      memoryCache({ cache, ttlMs }),
      // Only memory misses ask Redis; above the retries, so one replica's fetch, retries and all, serves the others.
      ...(shared ? [sharedCache({ store: shared, ttlMs, lockMs: options.sharedLockMs ?? 10_000 })] : []),
      // Above the retries and the budget: a credential the upstream just rejected costs no attempt, no slot.
      // Also where failed authentications are budgeted, and each credential's calls in flight bounded.
      rejectedCredentials({
        rememberMs: 30_000, // how long an upstream 401 for a credential is answered without calling again
        maxCredentials: 10_000,
        failuresPerMinute: options.authFailuresPerMinute,
        callsInFlightPerCredential: options.callsInFlightPerCredential,
        ledger,
      }),
      // The request's allowance: below the caches and the rejected credentials (what they answer costs nothing),
      // above the retries (a retried call counts once).
      allowance({ onRefused: () => metrics.callLimit.inc({ stage: 'execution' }) }),
      // Above the budget, so every attempt, retries included, takes a slot of its own.
      retry({ retries: options.retries, backoffMs: options.backoffMs, maxWaitMs: options.maxWaitMs, upstreamName, random: options.random }),
      // Below the retries, so it sees each attempt's 429; above the budget, so a cooling account spends no slot.
      ...(options.breaker ? [options.breaker.layer] : []),
      // Per attempt, just before the wire: the upstream's own 429 is the last line, never the limiter.
      budget({ limiter: options.limiter, upstreamName, budgetVariable: options.budgetVariable }),
      // Right above the wire: counts and times each HTTP attempt, none of the waits above.
      observeAttempts({ metrics }),
    ],
    httpCall({
      baseUrl: options.baseUrl,
      dispatcher: options.dispatcher,
      timeoutMs: options.timeoutMs,
      upstreamName,
      rules: options.responseRules,
    }),
  );

  return {
    isAccepted: (key) => ledger.isAccepted(key),
    transport(tenant, logger, scope) {
      return {
        async getJson<T>(request: UpstreamRequest<T>): Promise<T> {
          try {
            const result = await call({
              tenant,
              logger,
              scope,
              path: request.path,
              query: request.query,
              cacheClass: request.cacheClass,
              decode: request.decode,
              signal: request.signal ?? new AbortController().signal,
            });
            return result.value as T;
          } catch (error) {
            // The memory cache rejects a caller that went away with its signal's bare reason.
            if (error instanceof UpstreamError) throw error;
            if (request.signal?.aborted) throw abortError(request.path, request.signal, upstreamName);
            throw error;
          }
        },
      };
    },
  };
}
