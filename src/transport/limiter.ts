/**
 * A client-side rate limiter: at most `limit` grants per key in any rolling window of `windowMs`.
 * Every grant reserves a slot; a caller whose slot is in the future waits for it (abortably), and one
 * whose slot is further away than `maxWaitMs` is refused at once with the time until a slot frees.
 */

export interface RateLimiterOptions {
  readonly limit: number;
  readonly windowMs: number;
  /** The longest a caller may wait for its slot; beyond that it is refused (fail fast). */
  readonly maxWaitMs: number;
  readonly now?: () => number;
}

export class RateLimitExceeded extends Error {
  constructor(readonly retryAfterSeconds: number) {
    super(`client-side rate limit reached; a slot frees in ${retryAfterSeconds} s`);
    this.name = 'RateLimitExceeded';
  }
}

export interface RateLimiter {
  /** Resolves when the call may go out (with how long it waited); rejects with RateLimitExceeded or the abort reason. */
  acquire(key: string, signal?: AbortSignal): Promise<{ waitedMs: number }>;
}

export function createRateLimiter(options: RateLimiterOptions): RateLimiter {
  const now = options.now ?? Date.now;
  // Per key: grant times in order (past ones within the window, and future reservations).
  const grants = new Map<string, number[]>();

  const prune = (key: string, at: number): number[] => {
    const list = grants.get(key) ?? [];
    let drop = 0;
    while (drop < list.length && (list[drop] as number) <= at - options.windowMs) drop += 1;
    if (drop > 0) list.splice(0, drop);
    if (list.length === 0) grants.delete(key);
    else grants.set(key, list);
    return list;
  };

  return {
    async acquire(key, signal) {
      signal?.throwIfAborted();
      const at = now();
      const list = prune(key, at);
      // The slot: now, or one window after the grant `limit` places back (so any window holds at most `limit`).
      const blocker = list.length >= options.limit ? (list[list.length - options.limit] as number) : Number.NEGATIVE_INFINITY;
      const slot = Math.max(at, blocker + options.windowMs);
      const waitMs = slot - at;
      if (waitMs > options.maxWaitMs) throw new RateLimitExceeded(Math.max(1, Math.ceil(waitMs / 1000)));
      list.push(slot);
      grants.set(key, list);
      if (waitMs > 0) await sleep(waitMs, signal);
      return { waitedMs: waitMs };
    },
  };
}

/** Sleeps `ms`, or rejects with the signal's reason when it aborts first. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
