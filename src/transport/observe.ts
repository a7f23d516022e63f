/** Observation: the layers that turn calls into metrics and log lines, and nothing else. */
import type { UpstreamError } from '../errors.js';
import type { Metrics } from '../metrics.js';
import type { CallReport, Layer } from './call.js';

/** How a failed attempt is labelled: its HTTP status, or what kept it from having one. */
export function attemptStatus(error: unknown): number | 'timeout' | 'network' {
  const failure = error as Partial<UpstreamError> | null;
  return failure?.status ?? (failure?.code === 'UPSTREAM_TIMEOUT' ? 'timeout' : 'network');
}

export interface ObserveCallsOptions {
  readonly metrics: Metrics;
  /** The memory cache, whose size the cache gauge shows. */
  readonly cache: { readonly bytes: number };
}

/**
 * One log line per call as the adapter saw it (info for a fetch, debug for a cache answer), the cache
 * lookup metric, and, through the call's report, the budget and retry metrics and a warning per
 * failed attempt.
 */
export function observeCalls(options: ObserveCallsOptions): Layer {
  const { metrics } = options;
  return (next) => async (request) => {
    const started = performance.now();
    const { logger, tenant, path: endpoint } = request;
    let retries = 0;
    let budgetWaitMs = 0;
    const report: CallReport = {
      budgetWaited(ms) {
        budgetWaitMs += ms;
        metrics.limiterWaits.inc();
        metrics.limiterWaitSeconds.observe(ms / 1000);
      },
      budgetRefused() {
        metrics.limiterRejections.inc();
      },
      attemptFailed(error, attempt, retry) {
        logger.warn(
          { endpoint, status: attemptStatus(error), attempt, retry, code: error.code, tenant: tenant.label },
          'upstream call failed',
        );
        if (!retry) return;
        retries += 1;
        metrics.upstreamRetries.inc({ endpoint });
      },
    };
    const result = await next({ ...request, report });
    const cache = result.cache ?? 'miss';
    metrics.cacheLookups.inc({ class: request.cacheClass, outcome: cache });
    metrics.cacheBytes.set(options.cache.bytes);
    (cache === 'miss' ? logger.info : logger.debug).call(
      logger,
      {
        endpoint,
        status: result.status,
        durationMs: Math.round(performance.now() - started),
        cache,
        retries,
        budgetWaitMs,
        tenant: tenant.label,
      },
      'upstream call',
    );
    return result;
  };
}

/** Counts and times each HTTP attempt by endpoint and status; sits right above the wire, below every wait. */
export function observeAttempts(options: { readonly metrics: Metrics }): Layer {
  const { metrics } = options;
  return (next) => async (request) => {
    const endpoint = request.path;
    const started = performance.now();
    const done = (status: number | string): void => {
      metrics.upstreamCalls.inc({ endpoint, status: String(status) });
      metrics.upstreamDuration.observe({ endpoint }, (performance.now() - started) / 1000);
    };
    try {
      const result = await next(request);
      done(result.status);
      return result;
    } catch (error) {
      done(attemptStatus(error));
      throw error;
    }
  };
}
