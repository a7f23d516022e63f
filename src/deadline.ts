import { setMaxListeners } from 'node:events';

/**
 * The abort signal of one request: the client going away, the request having been answered, or its
 * deadline. Node 20 holds the sources of `AbortSignal.any` weakly: a timeout signal nothing else
 * references is collected with its timer and never fires, so only short deadlines held. The context
 * keeps `deadline` for as long as the request runs.
 */
export interface RequestSignal {
  readonly signal: AbortSignal;
  /** The deadline itself, to be held strongly by whoever holds `signal`. */
  readonly deadline: AbortSignal;
}

/**
 * Every upstream call of the request listens on its signal (the cache wait, undici, a backoff sleep),
 * so a query with many nested connections has many listeners at once: that is not a leak. The
 * number in flight is bounded by the request's calls; past this many Node would warn.
 */
const LISTENERS_PER_REQUEST = 1_000;

/**
 * `ends`: what else ends the request (the client's signal; the listener's "response closed"). Each
 * must be held by its owner, as a request's and a listener's are; the deadline is held by the result.
 * `arrivedAt` (performance.now()): when the request came in. The deadline counts from then, so the
 * time spent reading and parsing it before any upstream call is part of it. @default now
 */
export function requestSignal(ends: AbortSignal | readonly AbortSignal[], timeoutMs: number, arrivedAt = performance.now()): RequestSignal {
  // AbortSignal.timeout takes whole milliseconds only.
  const deadline = AbortSignal.timeout(Math.max(0, Math.ceil(timeoutMs - (performance.now() - arrivedAt))));
  const signal = AbortSignal.any([...[ends].flat(), deadline]);
  setMaxListeners(LISTENERS_PER_REQUEST, signal);
  return { signal, deadline };
}

/** The reason a request's signal aborts with once its response has gone out (or its connection closed). */
export const requestEnded = (): Error => new DOMException('The request has ended', 'AbortError');
