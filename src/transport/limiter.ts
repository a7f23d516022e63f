/**
 * A client-side rate limiter: at most `limit` grants per key in any rolling window of `windowMs`.
 * Every grant reserves a slot; a caller whose slot is in the future waits for it (abortably, giving the
 * slot back), and one whose slot is further away than its maximum wait is refused at once with the
 * time until a slot frees. Who asks, and in what order, is fair.ts's business, in front of it.
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

/** Who a call is for: the fair limiter orders and caps by it (see CallScope); plain limiters ignore it. */
export interface BudgetScope {
  readonly client: string;
  readonly priority: 'client' | 'background';
}

export interface AcquireOptions {
  readonly scope?: BudgetScope | undefined;
  /** Wait at most this long (never longer than the limiter's own maximum). */
  readonly maxWaitMs?: number | undefined;
}

export interface RateLimiter {
  /** Resolves when the call may go out (with how long it waited); rejects with RateLimitExceeded or the abort reason. */
  acquire(key: string, signal?: AbortSignal, options?: AcquireOptions): Promise<{ waitedMs: number }>;
  /** Grants per window it allows now, when it can tell (the shared limiter's is smaller while Redis is down). */
  readonly limit?: number;
}

export interface LocalRateLimiter extends RateLimiter {
  readonly limit: number;
  /** Keys it holds grants for; a key idle for a window is dropped by the next sweep (at most one per window). */
  readonly keys: number;
}

export function createRateLimiter(options: RateLimiterOptions): LocalRateLimiter {
  const now = options.now ?? Date.now;
  // Per key: grant times in order (past ones within the window, and future reservations).
  const grants = new Map<string, number[]>();
  let sweptAt = now();

  const prune = (key: string, list: number[], at: number): number[] => {
    let drop = 0;
    while (drop < list.length && (list[drop] as number) <= at - options.windowMs) drop += 1;
    if (drop > 0) list.splice(0, drop);
    if (list.length === 0) grants.delete(key);
    return list;
  };

  // Keys that are no longer asked for would otherwise stay for good (one per credential ever seen).
  const sweep = (at: number): void => {
    if (at - sweptAt < options.windowMs) return;
    sweptAt = at;
    for (const [key, list] of grants) prune(key, list, at);
  };

  return {
    limit: options.limit,
    get keys() {
      return grants.size;
    },
    async acquire(key, signal, request) {
      signal?.throwIfAborted();
      const at = now();
      sweep(at);
      const list = prune(key, grants.get(key) ?? [], at);
      // The slot: now, or one window after the grant `limit` places back (so any window holds at most `limit`).
      const blocker = list.length >= options.limit ? (list[list.length - options.limit] as number) : Number.NEGATIVE_INFINITY;
      const slot = Math.max(at, blocker + options.windowMs);
      const waitMs = slot - at;
      if (waitMs > Math.min(options.maxWaitMs, request?.maxWaitMs ?? Number.POSITIVE_INFINITY)) {
        throw new RateLimitExceeded(Math.max(1, Math.ceil(waitMs / 1000)));
      }
      list.push(slot);
      grants.set(key, list);
      if (waitMs > 0) {
        try {
          await sleep(waitMs, signal);
        } catch (error) {
          // A future slot is never pruned, so the list is still the key's: give the slot back.
          const index = list.indexOf(slot);
          if (index >= 0) list.splice(index, 1);
          if (list.length === 0) grants.delete(key);
          throw error;
        }
      }
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
