/**
 * The allowance layer: a request may cause at most its allowance of upstream calls
 * (LEADGRAPH_MAX_UPSTREAM_CALLS_PER_REQUEST). Below the caches, so what they answer is free; above
 * the retries, so a call retried after a 503 counts once. Past the allowance a call is refused, and
 * the fields that needed it resolve to null with UPSTREAM_CALL_LIMIT: the request keeps what it has.
 */
import { DomainError } from '../errors.js';
import { type Layer, refused } from './call.js';

export function allowance(options: { readonly onRefused?: () => void } = {}): Layer {
  return (next) => async (request) => {
    const granted = request.scope.allowance;
    if (granted) {
      if (granted.spent >= granted.limit) {
        options.onRefused?.();
        throw refused(
          new DomainError(
            'UPSTREAM_CALL_LIMIT',
            `This request has used the ${granted.limit} upstream calls one request may cause (LEADGRAPH_MAX_UPSTREAM_CALLS_PER_REQUEST); the rest of it was not fetched. Ask for fewer nested lists or entities per request`,
            { endpoint: request.path, limit: granted.limit, ...(granted.estimate !== undefined ? { estimate: granted.estimate } : {}) },
          ),
        );
      }
      granted.spent += 1;
    }
    return next(request);
  };
}
