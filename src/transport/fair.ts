/**
 * Fair shares of the budget: a scheduler in front of the rate limiter (local, or shared through
 * Redis), per budget key. Calls wait in a queue per client, and whenever no call of the key is at the
 * limiter, the next one goes: round-robin over the clients with waiting calls (first come first served
 * within a client), clients' requests before background work, skipping any client that already holds
 * its share of the rolling window. One call per key at a time asks the limiter, so the limiter holds
 * at most one future reservation of ours and the order is decided here, not by who asked first.
 *
 * The share is a hard cap: it holds when a client is alone too, so that whoever comes next finds
 * slots free instead of a window a greedy client has already spent.
 */
import { type AcquireOptions, type BudgetScope, RateLimitExceeded, type RateLimiter } from './limiter.js';

export type Priority = BudgetScope['priority'];

const PRIORITIES: readonly Priority[] = ['client', 'background'];

export interface FairLimiterOptions {
  /** Where the slots come from: the local limiter, or the one shared through Redis. */
  readonly limiter: RateLimiter;
  /** The budget: grants per key in any rolling `windowMs` (the limiter's own, unless it tells a smaller one). */
  readonly limit: number;
  readonly windowMs: number;
  /** The longest a call may wait for its turn and its slot together; a call that cannot go by then is refused. */
  readonly maxWaitMs: number;
  /**
   * The share of the window's grants one client may hold, in (0, 1]; at least one grant. 1 turns the
   * cap off and keeps the fair order.
   * @default 0.5
   */
  readonly share?: number;
  /** @default Date.now */
  readonly now?: () => number;
  /** Told once per call that arrives while its client holds its whole share (a metric). */
  readonly onOverShare?: (priority: Priority) => void;
}

export interface FairLimiter extends RateLimiter {
  /** Calls waiting for their turn, by priority (the one at the limiter not included). */
  queued(): Record<Priority, number>;
  /** Keys with state (waiting calls or grants within the window); idle ones go in the next sweep, at most one per window. */
  readonly keys: number;
  /** Clients with state, over all keys; idle ones go in the same sweep. */
  readonly clients: number;
}

interface Waiter {
  readonly client: Client;
  readonly enqueuedAt: number;
  readonly deadline: number;
  readonly signal: AbortSignal | undefined;
  readonly resolve: (grant: { waitedMs: number }) => void;
  readonly reject: (error: unknown) => void;
  timer?: NodeJS.Timeout;
  onAbort?: () => void;
}

interface Client {
  readonly id: string;
  readonly priority: Priority;
  /** Times of its grants within the window, oldest first. */
  readonly held: number[];
  /** Its calls waiting for a turn, in arrival order. */
  readonly waiters: Waiter[];
}

interface KeyState {
  readonly clients: Map<string, Client>;
  /** Per priority, the clients with waiting calls in turn order: a client that had its turn goes to the back. */
  readonly turns: Record<Priority, Map<string, Client>>;
  /** The client whose call is at the limiter. */
  acquiring: Client | null;
  /** Wakes the queue when the first capped client's oldest grant leaves the window. */
  wake?: NodeJS.Timeout;
}

const ANONYMOUS: BudgetScope = { client: '', priority: 'client' };

const seconds = (ms: number): number => Math.max(1, Math.ceil(ms / 1000));

export function createFairLimiter(options: FairLimiterOptions): FairLimiter {
  const { limiter, windowMs } = options;
  const now = options.now ?? Date.now;
  const share = options.share ?? 0.5;
  const states = new Map<string, KeyState>();
  let sweptAt = now();

  const capOf = (): number => Math.max(1, Math.floor(share * (limiter.limit ?? options.limit)));

  const prune = (client: Client, at: number): void => {
    let drop = 0;
    while (drop < client.held.length && (client.held[drop] as number) <= at - windowMs) drop += 1;
    if (drop > 0) client.held.splice(0, drop);
  };

  /**
   * The earliest time the client's own share lets a call go, with `ahead` of its calls before it: a
   * lower bound (other clients and the budget itself may make it later), so a call refused by it
   * could never have gone in time.
   */
  const earliestTurn = (client: Client, ahead: number, at: number): number => {
    const cap = capOf();
    const { held } = client;
    let position = held.length + ahead;
    let later = 0;
    while (position >= cap) {
      position -= cap;
      if (position < held.length) return Math.max(at, (held[position] as number) + windowMs) + later;
      // That grant is itself one of the calls ahead: this call comes a window after it at the earliest.
      later += windowMs;
      if (later > options.maxWaitMs) break;
    }
    return at + later;
  };

  const stateOf = (key: string): KeyState => {
    let state = states.get(key);
    if (!state) {
      state = { clients: new Map(), turns: { client: new Map(), background: new Map() }, acquiring: null };
      states.set(key, state);
    }
    return state;
  };

  const clientOf = (state: KeyState, scope: BudgetScope): Client => {
    const id = `${scope.priority} ${scope.client}`;
    let client = state.clients.get(id);
    if (!client) {
      client = { id, priority: scope.priority, held: [], waiters: [] };
      state.clients.set(id, client);
    }
    return client;
  };

  /** Takes a waiter out of its queue (turn, timeout or abort), its timer and listener with it. */
  const unqueue = (state: KeyState, waiter: Waiter): void => {
    const { client } = waiter;
    const index = client.waiters.indexOf(waiter);
    if (index >= 0) client.waiters.splice(index, 1);
    clearTimeout(waiter.timer);
    if (waiter.onAbort) waiter.signal?.removeEventListener('abort', waiter.onAbort);
    if (client.waiters.length === 0 && state.acquiring !== client) state.turns[client.priority].delete(client.id);
  };

  /** The client whose call goes next: the first in turn order under its cap, clients' requests first. */
  const nextClient = (state: KeyState, at: number): Client | null => {
    const cap = capOf();
    for (const priority of PRIORITIES) {
      for (const client of state.turns[priority].values()) {
        prune(client, at);
        if (client.held.length < cap) return client;
      }
    }
    return null;
  };

  const scheduleWake = (key: string, state: KeyState, at: number): void => {
    const cap = capOf();
    let soonest = Number.POSITIVE_INFINITY;
    for (const priority of PRIORITIES) {
      for (const client of state.turns[priority].values()) {
        const blocker = client.held[client.held.length - cap];
        if (blocker !== undefined) soonest = Math.min(soonest, blocker + windowMs);
      }
    }
    if (soonest === Number.POSITIVE_INFINITY) return;
    state.wake = setTimeout(() => pump(key, state), Math.max(1, soonest - at));
    // Every waiting call has a deadline timer of its own: this one need not hold the process.
    state.wake.unref();
  };

  /** Sends the next call to the limiter, unless one of the key's is there already. */
  const pump = (key: string, state: KeyState): void => {
    if (state.acquiring) return;
    clearTimeout(state.wake);
    state.wake = undefined;
    const at = now();
    const client = nextClient(state, at);
    if (!client) {
      scheduleWake(key, state, at);
      return;
    }
    const waiter = client.waiters[0] as Waiter;
    state.acquiring = client;
    unqueue(state, waiter);
    // A limiter that throws instead of rejecting must not leave the key's queue stuck.
    new Promise<unknown>((resolve) => resolve(limiter.acquire(key, waiter.signal, { maxWaitMs: Math.max(0, waiter.deadline - at) })))
      .then(
        () => {
          const grantedAt = now();
          client.held.push(grantedAt);
          waiter.resolve({ waitedMs: grantedAt - waiter.enqueuedAt });
        },
        (error: unknown) => waiter.reject(error),
      )
      .finally(() => {
        state.acquiring = null;
        const turns = state.turns[client.priority];
        turns.delete(client.id);
        if (client.waiters.length > 0) turns.set(client.id, client);
        pump(key, state);
      });
  };

  const sweep = (at: number): void => {
    if (at - sweptAt < windowMs) return;
    sweptAt = at;
    for (const [key, state] of states) {
      for (const [id, client] of state.clients) {
        prune(client, at);
        if (client.held.length === 0 && client.waiters.length === 0 && state.acquiring !== client) state.clients.delete(id);
      }
      if (state.clients.size > 0) continue;
      clearTimeout(state.wake);
      states.delete(key);
    }
  };

  return {
    get limit() {
      return limiter.limit;
    },
    get keys() {
      return states.size;
    },
    get clients() {
      let count = 0;
      for (const state of states.values()) count += state.clients.size;
      return count;
    },
    queued() {
      const counts: Record<Priority, number> = { client: 0, background: 0 };
      for (const state of states.values()) {
        for (const priority of PRIORITIES) {
          for (const client of state.turns[priority].values()) counts[priority] += client.waiters.length;
        }
      }
      return counts;
    },
    async acquire(key: string, signal?: AbortSignal, request?: AcquireOptions) {
      signal?.throwIfAborted();
      const at = now();
      sweep(at);
      const maxWaitMs = Math.min(options.maxWaitMs, request?.maxWaitMs ?? Number.POSITIVE_INFINITY);
      const state = stateOf(key);
      const client = clientOf(state, request?.scope ?? ANONYMOUS);
      prune(client, at);
      const ahead = client.waiters.length + (state.acquiring === client ? 1 : 0);
      if (client.held.length + ahead >= capOf()) options.onOverShare?.(client.priority);
      // Fail fast where the client's own share already says the call cannot go in time.
      const turnAt = earliestTurn(client, ahead, at);
      if (turnAt - at > maxWaitMs) throw new RateLimitExceeded(seconds(turnAt - at));
      return new Promise<{ waitedMs: number }>((resolve, reject) => {
        const waiter: Waiter = { client, enqueuedAt: at, deadline: at + maxWaitMs, signal, resolve, reject };
        waiter.timer = setTimeout(() => {
          unqueue(state, waiter);
          const late = now();
          reject(new RateLimitExceeded(seconds(earliestTurn(client, 0, late) - late)));
        }, maxWaitMs);
        if (signal) {
          waiter.onAbort = () => {
            unqueue(state, waiter);
            reject(signal.reason);
          };
          signal.addEventListener('abort', waiter.onAbort, { once: true });
        }
        client.waiters.push(waiter);
        const turns = state.turns[client.priority];
        if (!turns.has(client.id)) turns.set(client.id, client);
        pump(key, state);
      });
    },
  };
}
