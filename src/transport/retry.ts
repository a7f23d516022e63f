/** The retry layer: another attempt after a network error, timeout, 5xx or 429, with backoff or Retry-After. */
import { type ErrorCode, UpstreamError } from '../errors.js';
import { isRefused, type Layer } from './call.js';
import { abortError } from './http.js';
import { sleep } from './limiter.js';

export interface RetryOptions {
  /** Extra attempts after a retryable failure. */
  readonly retries: number;
  /** First backoff delay; doubles per attempt, with full jitter. */
  readonly backoffMs: number;
  /** The longest a 429's Retry-After may make a call wait before it gives up. */
  readonly maxWaitMs: number;
  /** e.g. "V4 API", in error messages. */
  readonly upstreamName: string;
  readonly random?: () => number;
}

const RETRYABLE = new Set<ErrorCode>(['UPSTREAM_UNAVAILABLE', 'UPSTREAM_TIMEOUT', 'UPSTREAM_RATE_LIMITED']);

/**
 * Only GETs pass here, so every call is idempotent. A 429 waits what its Retry-After says (and gives up
 * at once past `maxWaitMs`); anything else backs off exponentially. A layer's refusal (budget, caller
 * gone) is passed on untouched.
 */
export function retry(options: RetryOptions): Layer {
  const random = options.random ?? Math.random;
  return (next) => async (request) => {
    for (let attempt = 0; ; attempt += 1) {
      try {
        return await next(request);
      } catch (error) {
        if (!(error instanceof UpstreamError) || isRefused(error)) throw error;
        const retryAfter = error.extensions.retryAfter;
        const delay =
          error.code === 'UPSTREAM_RATE_LIMITED' && typeof retryAfter === 'number'
            ? retryAfter * 1000
            : random() * options.backoffMs * 2 ** attempt;
        const again = RETRYABLE.has(error.code) && attempt < options.retries && !request.signal.aborted && delay <= options.maxWaitMs;
        request.report?.attemptFailed(error, attempt + 1, again);
        if (!again) throw error;
        try {
          await sleep(delay, request.signal);
        } catch {
          throw abortError(request.path, request.signal, options.upstreamName);
        }
      }
    }
  };
}
