/**
 * Redis as the store every replica shares: the rate budget (an atomic Lua sliding window, the same
 * reservation algorithm as the local limiter, on Redis's clock) and upstream response bodies (with a
 * short-lived lock key so one replica fetches a miss while the others wait for its result).
 * Redis trouble never fails a request: callers fall back to their local cache and a local share of
 * the budget, and the state is logged once per change, exported as a metric and shown in readiness.
 */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Metrics } from '../metrics.js';
import { RateLimitExceeded, type RateLimiter, sleep } from './limiter.js';

export interface SharedStoreOptions {
  readonly url: string;
  /** Each Redis command's timeout; past it Redis counts as down for that call. */
  readonly timeoutMs: number;
  /** Largest body kept in Redis, in bytes; larger ones stay in the local cache only. */
  readonly maxValueBytes: number;
  readonly logger: Logger;
  readonly metrics: Metrics;
}

export interface SharedStore {
  readonly up: boolean;
  /** The body cached under `key`, or null (a miss, or Redis down). */
  get(key: string): Promise<string | null>;
  set(key: string, body: string, ttlMs: number): Promise<void>;
  /** Takes the fetch lock for `key`; false when another replica holds it (or Redis is down). */
  lock(key: string, ttlMs: number): Promise<string | null>;
  unlock(key: string, token: string): Promise<void>;
  /**
   * Waits (polling) for the replica holding the fetch lock of `key`, up to `waitMs` or until `signal`
   * aborts (rejecting with its reason): its result, or word that it let go of the lock without one.
   */
  waitFor(key: string, waitMs: number, signal?: AbortSignal): Promise<LockWait>;
  /** The budget slot for a credential: ms to wait and the slot's name, or RateLimitExceeded; null when Redis is down. */
  reserve(
    key: string,
    limit: number,
    windowMs: number,
    maxWaitMs: number,
  ): Promise<{ readonly waitMs: number; readonly slot: string } | null>;
  /** Gives back a reserved slot its caller will not use (it went away while waiting for it). */
  release(key: string, slot: string): Promise<void>;
  close(): Promise<void>;
}

/**
 * How a wait for another replica's fetch ended: its body arrived; it released the lock without storing
 * one (its fetch failed or was cancelled, its body was too large, or the lock expired); or the wait gave
 * up (`waitMs` passed, or Redis went down).
 */
/**
 * Values, lists and lock renewal for state the replicas hand each other (the lead index's pass log,
 * src/index/shared.ts). Keys are under `leadgraph:`; every call answers null (or false) when Redis
 * is down, so callers can tell a missing value from an unreachable store.
 */
export interface SharedData {
  /** Largest value Redis keeps for us, in bytes (LEADGRAPH_REDIS_MAX_VALUE_KB). */
  readonly maxValueBytes: number;
  /** Sets every entry, with a TTL, in one transaction; false when Redis is down or a value is too large. */
  write(entries: readonly (readonly [key: string, value: string | Buffer])[], ttlMs: number): Promise<boolean>;
  /** The values in key order (null for a missing one); null when Redis is down. */
  readBuffers(keys: readonly string[]): Promise<(Buffer | null)[] | null>;
  readString(key: string): Promise<string | null | undefined>;
  remove(keys: readonly string[]): Promise<void>;
  /** Appends to a list, keeps its last `keep` items, and sets its TTL; false when Redis is down. */
  append(key: string, value: string, keep: number, ttlMs: number): Promise<boolean>;
  /** The whole list, oldest first; null when Redis is down. */
  list(key: string): Promise<string[] | null>;
  /** Extends a lock `token` holds; false when another holds it, it expired, or Redis is down. */
  renew(key: string, token: string, ttlMs: number): Promise<boolean>;
}

export type LockWait = { readonly outcome: 'arrived'; readonly body: string } | { readonly outcome: 'released' | 'gave-up' };

/** How often a replica waiting for another's fetch looks again. */
const LOCK_POLL_MS = 25;

// KEYS[1]: the credential's sorted set of grant times. ARGV: limit, window, maxWait, member.
// Uses Redis's clock, so replicas with drifting clocks still share one window.
const RESERVE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local maxWait = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local count = redis.call('ZCARD', KEYS[1])
local slot = now
if count >= limit then
  local blocker = redis.call('ZRANGE', KEYS[1], count - limit, count - limit, 'WITHSCORES')
  slot = math.max(now, tonumber(blocker[2]) + window)
end
if slot - now > maxWait then return {0, slot - now} end
redis.call('ZADD', KEYS[1], slot, ARGV[4])
redis.call('PEXPIRE', KEYS[1], window + maxWait + 1000)
return {1, slot - now}
`;

const PREFIX = 'leadgraph:';

const RENEW = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0";

export function createSharedStore(options: SharedStoreOptions): SharedStore & SharedData {
  const { logger, metrics } = options;
  let up = false;
  let everUp = false;
  const setUp = (next: boolean, reason?: string): void => {
    metrics.redisUp.set(next ? 1 : 0);
    if (next === up) return;
    up = next;
    if (next) logger.info(`Redis is reachable: budget and cache are shared by the replicas${everUp ? ' again' : ''}`);
    everUp ||= next;
    if (next) return;
    logger.warn({ reason }, 'Redis is unreachable or slow: serving from the local cache with a local share of the budget');
  };
  const redis = new Redis(options.url, {
    commandTimeout: options.timeoutMs,
    connectTimeout: Math.max(options.timeoutMs, 1000),
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    retryStrategy: (times) => Math.min(200 * times, 2000),
    lazyConnect: false,
  });
  redis.on('ready', () => setUp(true));
  redis.on('error', (error: Error) => setUp(false, error.message));
  redis.on('end', () => setUp(false, 'connection ended'));
  redis.on('close', () => setUp(false, 'connection closed'));
  metrics.redisUp.set(0);

  /** Runs a command; any failure marks Redis down and yields `fallback`. */
  const attempt = async <T>(command: () => Promise<T>, fallback: T): Promise<T> => {
    if (redis.status !== 'ready') return fallback;
    try {
      const result = await command();
      setUp(true);
      return result;
    } catch (error) {
      setUp(false, (error as Error).message);
      return fallback;
    }
  };

  return {
    get up() {
      return up;
    },
    get: (key) => attempt(() => redis.get(`${PREFIX}cache:${key}`), null),
    async set(key, body, ttlMs) {
      if (ttlMs <= 0 || Buffer.byteLength(body) > options.maxValueBytes) return;
      await attempt(() => redis.set(`${PREFIX}cache:${key}`, body, 'PX', ttlMs), null);
    },
    async lock(key, ttlMs) {
      const token = randomUUID();
      const result = await attempt(() => redis.set(`${PREFIX}lock:${key}`, token, 'PX', ttlMs, 'NX'), null);
      return result === 'OK' ? token : null;
    },
    async unlock(key, token) {
      await attempt(
        () =>
          redis.eval(
            "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0",
            1,
            `${PREFIX}lock:${key}`,
            token,
          ),
        0,
      );
    },
    async waitFor(key, waitMs, signal) {
      const until = Date.now() + waitMs;
      while (Date.now() < until && up) {
        await sleep(Math.min(LOCK_POLL_MS, Math.max(0, until - Date.now())), signal);
        // Both in one round trip; the holder stores its body before it releases the lock.
        const [body, holder] = await attempt(() => redis.mget(`${PREFIX}cache:${key}`, `${PREFIX}lock:${key}`), [null, 'unknown']);
        if (typeof body === 'string') return { outcome: 'arrived', body };
        if (holder === null) return { outcome: 'released' };
      }
      return { outcome: 'gave-up' };
    },
    async reserve(key, limit, windowMs, maxWaitMs) {
      const slot = randomUUID();
      const reply = await attempt(
        () => redis.eval(RESERVE, 1, `${PREFIX}budget:${key}`, limit, windowMs, maxWaitMs, slot) as Promise<[number, number]>,
        null,
      );
      if (reply === null) return null;
      const [granted, waitMs] = reply;
      if (granted !== 1) throw new RateLimitExceeded(Math.max(1, Math.ceil(waitMs / 1000)));
      return { waitMs, slot };
    },
    async release(key, slot) {
      await attempt(() => redis.zrem(`${PREFIX}budget:${key}`, slot), 0);
    },
    maxValueBytes: options.maxValueBytes,
    async write(entries, ttlMs) {
      if (entries.some(([, value]) => Buffer.byteLength(value) > options.maxValueBytes)) return false;
      const multi = redis.multi();
      for (const [key, value] of entries) multi.set(`${PREFIX}${key}`, value, 'PX', ttlMs);
      // A command Redis refused (out of memory) fails the write as a whole.
      const replies = await attempt(() => multi.exec(), null);
      return replies?.every(([error]) => !error) ?? false;
    },
    readBuffers: (keys) =>
      keys.length === 0 ? Promise.resolve([]) : attempt(() => redis.mgetBuffer(...keys.map((key) => `${PREFIX}${key}`)), null),
    readString: (key) => attempt(() => redis.get(`${PREFIX}${key}`), undefined),
    async remove(keys) {
      if (keys.length > 0) await attempt(() => redis.del(...keys.map((key) => `${PREFIX}${key}`)), 0);
    },
    async append(key, value, keep, ttlMs) {
      const full = `${PREFIX}${key}`;
      const replies = await attempt(() => redis.multi().rpush(full, value).ltrim(full, -keep, -1).pexpire(full, ttlMs).exec(), null);
      return replies?.every(([error]) => !error) ?? false;
    },
    list: (key) => attempt(() => redis.lrange(`${PREFIX}${key}`, 0, -1), null),
    async renew(key, token, ttlMs) {
      return (await attempt(() => redis.eval(RENEW, 1, `${PREFIX}lock:${key}`, token, ttlMs), 0)) === 1;
    },
    async close() {
      redis.disconnect();
    },
  };
}

/**
 * The budget shared through Redis, falling back to a local limiter (a conservative share of the
 * budget) while Redis is down. Same contract as the local limiter; Redis drops a credential's window
 * once it is idle (PEXPIRE), the fallback sweeps its own.
 */
export function createSharedRateLimiter(
  store: SharedStore,
  options: { limit: number; windowMs: number; maxWaitMs: number },
  fallback: RateLimiter,
): RateLimiter {
  return {
    get limit() {
      return store.up ? options.limit : (fallback.limit ?? options.limit);
    },
    async acquire(key, signal, request) {
      signal?.throwIfAborted();
      const maxWaitMs = Math.min(options.maxWaitMs, request?.maxWaitMs ?? Number.POSITIVE_INFINITY);
      const reserved = await store.reserve(key, options.limit, options.windowMs, maxWaitMs);
      if (reserved === null) return fallback.acquire(key, signal, request);
      const { waitMs, slot } = reserved;
      if (waitMs > 0) {
        try {
          await sleep(waitMs, signal);
        } catch (error) {
          // The caller went away before its slot came: the slot goes back to the window for the next call.
          void store.release(key, slot);
          throw error;
        }
      }
      return { waitedMs: waitMs };
    },
  };
}
