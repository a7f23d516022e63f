/**
 * The credentials layer: what a credential may cost before the upstream has accepted it.
 * - Once the upstream answers 401 for a credential, further calls with it fail at once for a while,
 *   with the same error, instead of asking again (the same wrong secret costs one call).
 * - Upstream 401s are budgeted per network (the remote address's /24, or /64 for IPv6: rotating
 *   addresses within one network gains nothing) and per account (the client id, without the
 *   secret) from that network: past `failuresPerMinute` of either in a rolling minute, calls with a
 *   credential the upstream has not accepted yet are refused without asking. A client guessing
 *   secrets (each guess a credential of its own) then costs the upstream a few calls a minute, not
 *   one per guess. Guesses from one network never lock an account out of another network, and a
 *   credential the upstream already accepted is never held back by anyone's guesses.
 * - Calls in flight are bounded per credential (its share of the upstream connections), and every
 *   credential not accepted yet shares one such share: a flood of guesses cannot take the
 *   connections other tenants' calls need.
 */
import { LRUCache } from 'lru-cache';
import { DomainError, type UpstreamError } from '../errors.js';
import { type CallRequest, type Layer, refused } from './call.js';

export interface RejectedCredentialsOptions {
  /** How long a 401 is remembered for a credential. */
  readonly rememberMs: number;
  /** Credentials remembered at once (least recently used forgotten first). */
  readonly maxCredentials: number;
  /** Upstream 401s per account and per remote address in a rolling minute before new credentials are refused. @default unbounded */
  readonly failuresPerMinute?: number | undefined;
  /** Calls in flight at once per accepted credential, and for all not-yet-accepted ones together. @default unbounded */
  readonly callsInFlightPerCredential?: number | undefined;
  /** Told which credentials the upstream accepts (the lead index starts only for those). */
  readonly ledger?: CredentialLedger | undefined;
  /** @default Date.now */
  readonly now?: () => number;
}

/** Whether the upstream has answered a tenant (credential and workspace) lately: read by the lead index registry, written by this layer. */
export interface CredentialLedger {
  /** By the tenant's cache key: a call with these credentials for this workspace succeeded. */
  isAccepted(tenantKey: string): boolean;
}

const FAILURE_WINDOW_MS = 60_000;
/** A credential the upstream accepted is trusted this long since its last success. */
const ACCEPTED_MS = 10 * 60_000;
/** The share all credentials the upstream has not accepted yet go through. */
const UNACCEPTED = '\u0000unaccepted';

/** A counting semaphore whose waiters leave when their signal aborts. */
class Gate {
  active = 0;
  private readonly waiting: { resolve: () => void; reject: (reason: unknown) => void; signal: AbortSignal; onAbort: () => void }[] = [];

  constructor(private readonly size: number) {}

  get idle(): boolean {
    return this.active === 0 && this.waiting.length === 0;
  }

  async enter(signal: AbortSignal): Promise<void> {
    signal.throwIfAborted();
    if (this.active < this.size) {
      this.active += 1;
      return;
    }
    await new Promise<void>((resolve, reject) => {
      const entry = {
        resolve,
        reject,
        signal,
        onAbort: () => {
          this.waiting.splice(this.waiting.indexOf(entry), 1);
          reject(signal.reason);
        },
      };
      signal.addEventListener('abort', entry.onAbort, { once: true });
      this.waiting.push(entry);
    });
  }

  leave(): void {
    const next = this.waiting.shift();
    if (!next) {
      this.active -= 1;
      return;
    }
    next.signal.removeEventListener('abort', next.onAbort);
    next.resolve(); // the slot passes to the next waiter
  }
}

export function rejectedCredentials(options: RejectedCredentialsOptions): Layer {
  const now = options.now ?? Date.now;
  const perf = { now };
  // Keyed by the credential key (client id and a hash of the secret), the account key, the address: never a secret.
  const rejected = new LRUCache<string, UpstreamError>({ max: options.maxCredentials, ttl: options.rememberMs, perf });
  const accepted = new LRUCache<string, true>({ max: options.maxCredentials, ttl: ACCEPTED_MS, perf });
  // Per workspace too: an accepted credential with a workspace it cannot read is not a tenant to index.
  const answered = new LRUCache<string, true>({ max: options.maxCredentials, ttl: ACCEPTED_MS, perf });
  if (options.ledger) options.ledger.isAccepted = (key) => answered.has(key);
  const failures = new LRUCache<string, number[]>({ max: options.maxCredentials, ttl: FAILURE_WINDOW_MS, perf });
  const gates = new Map<string, Gate>();

  const recent = (key: string): number[] => {
    const at = now();
    const list = (failures.get(key) ?? []).filter((time) => time > at - FAILURE_WINDOW_MS);
    return list;
  };
  const failureKeys = (request: CallRequest): string[] => {
    const network = networkOf(request.scope.address);
    return [`network:${network}`, `account:${request.tenant.accountKey}|${network}`];
  };

  const checkFailureBudget = (request: CallRequest): void => {
    const limit = options.failuresPerMinute;
    if (limit === undefined) return;
    for (const key of failureKeys(request)) {
      const list = recent(key);
      if (list.length < limit) continue;
      const retryAfter = Math.max(1, Math.ceil(((list[list.length - limit] as number) + FAILURE_WINDOW_MS - now()) / 1000));
      throw refused(
        new DomainError(
          'UNAUTHENTICATED',
          `Too many failed authentications ${key.startsWith('account:') ? 'for this client id from this network' : 'from this network'} in the last minute; retry in ${retryAfter} s with the right credentials`,
          { retryAfter, http: { status: 401 } },
        ),
      );
    }
  };

  const gateFor = (key: string): Gate | null => {
    const size = options.callsInFlightPerCredential;
    if (size === undefined) return null;
    let gate = gates.get(key);
    if (!gate) {
      gate = new Gate(size);
      gates.set(key, gate);
    }
    return gate;
  };

  return (next) => async (request) => {
    const credential = request.tenant.credentialKey;
    const known = rejected.get(credential);
    if (known) throw refused(known);
    const trusted = accepted.has(credential);
    if (!trusted) checkFailureBudget(request);
    const share = trusted ? credential : UNACCEPTED;
    const gate = gateFor(share);
    if (gate) await gate.enter(request.signal).catch((reason: unknown) => Promise.reject(refused(asError(reason))));
    try {
      // Checked again once through the gate: failures may have come in while this call waited.
      if (!trusted) checkFailureBudget(request);
      const result = await next(request);
      accepted.set(credential, true);
      answered.set(request.tenant.cacheKey, true);
      return result;
    } catch (error) {
      const failure = error as UpstreamError;
      if (failure.code === 'UPSTREAM_UNAUTHORIZED') {
        rejected.set(credential, failure);
        accepted.delete(credential);
        for (const key of failureKeys(request)) failures.set(key, [...recent(key), now()]);
      }
      throw error;
    } finally {
      if (gate) {
        gate.leave();
        if (gate.idle) gates.delete(share);
      }
    }
  };
}

const asError = (reason: unknown): Error => (reason instanceof Error ? reason : new Error(String(reason)));

/**
 * The network an address belongs to, for the failure budget: IPv4 /24, IPv6 /64 (an IPv4-mapped IPv6
 * address counts as IPv4). Addresses within one are one client's to rotate.
 */
export function networkOf(address: string | undefined): string {
  if (!address) return 'unknown';
  const v4 = /^(?:::ffff:)?(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.\d{1,3}$/i.exec(address);
  if (v4) return `${v4[1]}.${v4[2]}.${v4[3]}.0/24`;
  const [head = '', tail] = address.toLowerCase().split('::');
  const groups = head.split(':').filter((group) => group !== '');
  // With `::`, the groups it stands for are zeros: pad to four from the front part only.
  const prefix = [...groups, ...(tail !== undefined ? ['0', '0', '0', '0'] : [])].slice(0, 4).map((group) => group.replace(/^0+(?=.)/, ''));
  return `${prefix.join(':')}::/64`;
}
