/**
 * The upstream pipeline, shared by all requests: per-tenant cache (with coalescing), then the
 * per-credential rate budget, then retries with backoff, then one undici attempt. Source adapters
 * get a JsonGetter bound to one tenant and one request (for its logger).
 */
import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import type { Dispatcher } from 'undici';
import { UpstreamError } from '../errors.js';
import type { Metrics } from '../metrics.js';
import type { UpstreamCache } from './cache.js';
import { abortError, getJsonOnce, type JsonGetter, type UpstreamRequest } from './http.js';
import { RateLimitExceeded, type RateLimiter, sleep } from './limiter.js';
import type { SharedStore } from './shared.js';
import type { Tenant } from './tenant.js';

export interface UpstreamOptions {
  readonly baseUrl: string;
  /** e.g. "V4 API", in error messages. */
  readonly upstreamName: string;
  readonly dispatcher: Dispatcher;
  /** Connect, headers and body timeout of one attempt. */
  readonly timeoutMs: number;
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
  readonly ttlMs: Readonly<Record<UpstreamRequest['cacheClass'], number>>;
  readonly metrics: Metrics;
  /** Redis, shared by the replicas (LEADGRAPH_REDIS_URL): bodies behind the local cache. */
  readonly shared?: SharedStore | undefined;
  /** How long one replica may hold the fetch lock of a miss (and others wait for it). */
  readonly sharedLockMs?: number;
  readonly random?: () => number;
}

export interface Upstream {
  transport(tenant: Tenant, logger: Logger): JsonGetter;
}

const RETRYABLE = new Set(['UPSTREAM_UNAVAILABLE', 'UPSTREAM_TIMEOUT', 'UPSTREAM_RATE_LIMITED']);

export function createUpstream(options: UpstreamOptions): Upstream {
  const base = new URL(options.baseUrl);
  const basePath = base.pathname.replace(/\/+$/, '');
  const random = options.random ?? Math.random;
  const { metrics, upstreamName } = options;

  return {
    transport(tenant, logger) {
      const redact = (text: string): string =>
        tenant.secrets.reduce((out, secret) => (secret ? out.split(secret).join('[redacted]') : out), text);

      /** Every attempt takes a slot of the budget; the upstream's own 429 is the last line, not the first. */
      async function fetchWithRetries(request: UpstreamRequest, signal: AbortSignal) {
        const url = new URL(base);
        url.pathname = basePath + request.path;
        for (const key of Object.keys(request.query).sort()) url.searchParams.set(key, request.query[key] as string);
        const endpoint = request.path;
        let waitedMs = 0;
        for (let attempt = 0; ; attempt += 1) {
          try {
            const granted = await options.limiter.acquire(tenant.credentialKey, signal);
            if (granted.waitedMs > 0) {
              waitedMs += granted.waitedMs;
              metrics.limiterWaits.inc();
              metrics.limiterWaitSeconds.observe(granted.waitedMs / 1000);
            }
          } catch (error) {
            if (error instanceof RateLimitExceeded) {
              metrics.limiterRejections.inc();
              throw new UpstreamError(
                'UPSTREAM_RATE_LIMITED',
                `The ${upstreamName} budget of this gateway is used up for now (${options.budgetVariable}); retry in ${error.retryAfterSeconds} s`,
                { endpoint, retryAfter: error.retryAfterSeconds },
              );
            }
            throw abortError(endpoint, signal, upstreamName);
          }
          const started = performance.now();
          try {
            const result = await getJsonOnce({
              url,
              endpoint,
              headers: tenant.headers,
              dispatcher: options.dispatcher,
              timeoutMs: options.timeoutMs,
              signal,
              upstreamName,
              redact,
            });
            const seconds = (performance.now() - started) / 1000;
            metrics.upstreamCalls.inc({ endpoint, status: String(result.status) });
            metrics.upstreamDuration.observe({ endpoint }, seconds);
            return { ...result, attempts: attempt + 1, waitedMs, durationMs: Math.round(seconds * 1000) };
          } catch (error) {
            const failure = error as UpstreamError;
            const status = failure.status ?? (failure.code === 'UPSTREAM_TIMEOUT' ? 'timeout' : 'network');
            metrics.upstreamCalls.inc({ endpoint, status: String(status) });
            metrics.upstreamDuration.observe({ endpoint }, (performance.now() - started) / 1000);
            const retryAfter = failure.extensions?.retryAfter;
            const delay =
              failure.code === 'UPSTREAM_RATE_LIMITED' && typeof retryAfter === 'number'
                ? retryAfter * 1000
                : random() * options.backoffMs * 2 ** attempt;
            const retry = RETRYABLE.has(failure.code) && attempt < options.retries && !signal.aborted && delay <= options.maxWaitMs;
            logger.warn(
              { endpoint, status, attempt: attempt + 1, retry, code: failure.code, tenant: tenant.label },
              'upstream call failed',
            );
            if (!retry) throw failure;
            metrics.upstreamRetries.inc({ endpoint });
            try {
              await sleep(delay, signal);
            } catch {
              throw abortError(endpoint, signal, upstreamName);
            }
          }
        }
      }

      return {
        async getJson<T>(request: UpstreamRequest<T>): Promise<T> {
          const started = performance.now();
          const query = Object.keys(request.query)
            .sort()
            .map((key) => `${key}=${encodeURIComponent(request.query[key] as string)}`)
            .join('&');
          const key = `${tenant.cacheKey}|${request.path}?${query}`;
          let loaded: Awaited<ReturnType<typeof fetchWithRetries>> | undefined;
          let sharedHit = false;
          try {
            const { value, outcome } = await options.cache.getOrLoad(
              key,
              options.ttlMs[request.cacheClass],
              async (signal) => {
                const { shared } = options;
                const ttlMs = options.ttlMs[request.cacheClass];
                if (!shared || ttlMs <= 0) {
                  loaded = await fetchWithRetries(request, signal);
                  return { value: request.decode(loaded.value), size: loaded.size };
                }
                // Another replica may have it, or be fetching it right now.
                const sharedKey = createHash('sha256').update(key).digest('hex');
                const fromShared = (body: string) => {
                  sharedHit = true;
                  return { value: request.decode(body === '' ? null : (JSON.parse(body) as unknown)), size: Buffer.byteLength(body) };
                };
                const cached = await shared.get(sharedKey);
                if (cached !== null) return fromShared(cached);
                const lockMs = options.sharedLockMs ?? 10_000;
                const token = await shared.lock(sharedKey, lockMs);
                if (token === null && shared.up) {
                  const body = await shared.waitFor(sharedKey, lockMs, signal);
                  if (body !== null) return fromShared(body);
                }
                try {
                  loaded = await fetchWithRetries(request, signal);
                  await shared.set(sharedKey, loaded.text, ttlMs);
                } finally {
                  if (token !== null) await shared.unlock(sharedKey, token);
                }
                return { value: request.decode(loaded.value), size: loaded.size };
              },
              request.signal,
            );
            const counted = outcome === 'miss' && sharedHit ? 'shared' : outcome;
            metrics.cacheLookups.inc({ class: request.cacheClass, outcome: counted });
            metrics.cacheBytes.set(options.cache.bytes);
            (counted === 'miss' ? logger.info : logger.debug).call(
              logger,
              {
                endpoint: request.path,
                status: loaded?.status ?? 200,
                durationMs: Math.round(performance.now() - started),
                cache: counted,
                retries: loaded ? loaded.attempts - 1 : 0,
                budgetWaitMs: loaded?.waitedMs ?? 0,
                tenant: tenant.label,
              },
              'upstream call',
            );
            return value as T;
          } catch (error) {
            if (error instanceof UpstreamError) throw error;
            if (request.signal?.aborted) throw abortError(request.path, request.signal, upstreamName);
            throw error;
          }
        },
      };
    },
  };
}
