/**
 * The account breaker: Kommo blocks an account that keeps exceeding its limit (an nginx HTML 403 on
 * every call until its support lifts it), so after such a page, or several 429s in a row, the
 * gateway stops calling for that account for a cool-down, answering at once with the same code and
 * `retryAfter`. Calling on would only prolong the block.
 */
import { LRUCache } from 'lru-cache';
import { UpstreamError } from '../errors.js';
import { type Layer, refused } from './call.js';

export interface BreakerRules {
  /** An HTML 403 (a blocked account) opens the breaker. */
  readonly openOnHtmlForbidden: boolean;
  /** This many upstream 429s in a row open it. */
  readonly rateLimitedInARow: number;
}

export interface BreakerOptions extends BreakerRules {
  readonly cooldownMs: number;
  /** e.g. "Kommo API", in error messages. */
  readonly upstreamName: string;
  /** Called once each time the breaker of an account opens (logs and metrics). */
  readonly onOpen: (tenantLabel: string, reason: 'forbidden' | 'rate-limited', cooldownMs: number) => void;
  /** @default Date.now */
  readonly now?: () => number;
}

export interface Breaker {
  readonly layer: Layer;
  /** Accounts cooling down right now. */
  openCount(): number;
}

interface State {
  rateLimitedInARow: number;
  openUntil: number;
  reason: 'forbidden' | 'rate-limited';
}

export function createBreaker(options: BreakerOptions): Breaker {
  const now = options.now ?? Date.now;
  const states = new LRUCache<string, State>({ max: 10_000 });
  const open = (key: string, label: string, state: State, reason: State['reason']): void => {
    state.openUntil = now() + options.cooldownMs;
    state.reason = reason;
    state.rateLimitedInARow = 0;
    states.set(key, state);
    options.onOpen(label, reason, options.cooldownMs);
  };
  const layer: Layer = (next) => async (request) => {
    const key = request.tenant.credentialKey;
    const state = states.get(key) ?? { rateLimitedInARow: 0, openUntil: 0, reason: 'rate-limited' };
    const remainingMs = state.openUntil - now();
    if (remainingMs > 0) {
      const retryAfter = Math.ceil(remainingMs / 1000);
      const why = state.reason === 'forbidden' ? 'it answered 403 with an HTML page (a blocked account)' : 'repeated 429s';
      throw refused(
        new UpstreamError(
          state.reason === 'forbidden' ? 'UPSTREAM_FORBIDDEN' : 'UPSTREAM_RATE_LIMITED',
          `The gateway makes no ${options.upstreamName} call for this account for ${retryAfter} s after ${why} (LEADGRAPH_UPSTREAM_COOLDOWN_SECONDS)`,
          { endpoint: request.path, retryAfter },
        ),
      );
    }
    try {
      const result = await next(request);
      if (state.rateLimitedInARow > 0) {
        state.rateLimitedInARow = 0;
        states.set(key, state);
      }
      return result;
    } catch (error) {
      if (error instanceof UpstreamError && error.status === 403 && error.html && options.openOnHtmlForbidden) {
        open(key, request.tenant.label, state, 'forbidden');
      } else if (error instanceof UpstreamError && error.status === 429) {
        state.rateLimitedInARow += 1;
        if (state.rateLimitedInARow >= options.rateLimitedInARow) open(key, request.tenant.label, state, 'rate-limited');
        else states.set(key, state);
      }
      throw error;
    }
  };
  return {
    layer,
    openCount: () => {
      let count = 0;
      const at = now();
      for (const state of states.values()) if (state.openUntil > at) count += 1;
      return count;
    },
  };
}
