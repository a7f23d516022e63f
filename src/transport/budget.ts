/** The budget layer: every attempt takes a slot of the credential's rate budget before it goes out. */
import { UpstreamError } from '../errors.js';
import { type Layer, refused } from './call.js';
import { abortError } from './http.js';
import { RateLimitExceeded, type RateLimiter } from './limiter.js';

export interface BudgetOptions {
  /** The fair limiter (fair.ts) over the local or shared one; keyed by the tenant's credential, shared by the call's client. */
  readonly limiter: RateLimiter;
  /** e.g. "V4 API", in error messages. */
  readonly upstreamName: string;
  /** The setting that sizes the budget, named in the error when it is used up. */
  readonly budgetVariable: string;
}

/**
 * Waits for the attempt's turn and slot, or refuses it at once (UPSTREAM_RATE_LIMITED with the seconds until a
 * slot frees) when the slot is further away than the limiter's maximum wait. Both refusals, budget
 * used up and caller gone while waiting, are marked as such: they are not failed attempts.
 */
export function budget(options: BudgetOptions): Layer {
  const { limiter, upstreamName } = options;
  return (next) => async (request) => {
    const endpoint = request.path;
    let waitedMs: number;
    try {
      ({ waitedMs } = await limiter.acquire(request.tenant.credentialKey, request.signal, { scope: request.scope }));
    } catch (error) {
      if (!(error instanceof RateLimitExceeded)) throw refused(abortError(endpoint, request.signal, upstreamName));
      request.report?.budgetRefused();
      throw refused(
        new UpstreamError(
          'UPSTREAM_RATE_LIMITED',
          `The ${upstreamName} budget of this gateway is used up for now (${options.budgetVariable}); retry in ${error.retryAfterSeconds} s`,
          { endpoint, retryAfter: error.retryAfterSeconds },
        ),
      );
    }
    if (waitedMs > 0) request.report?.budgetWaited(waitedMs);
    return next(request);
  };
}
