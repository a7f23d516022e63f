/** Environment -> one typed, validated, frozen Config. Every problem names its variable. Source settings are read by their profiles. */
import { ConfigError, type Env, readBool, readInt, readString } from './env.js';
import { type PersistedDocuments, readPersistedDocuments } from './persisted-documents.js';
import type { IndexDefaults } from './sources/profile.js';
import { profiles, type SourceSettingsUnion } from './sources/profiles.js';

export interface Config {
  /** Where the gateway listens. `PORT` (default 4000), `HOST` (default 127.0.0.1). */
  readonly port: number;
  readonly host: string;
  /** `configured` serves a real account; `demo` starts the embedded demo upstream, which speaks the chosen source's API. */
  readonly upstream: 'configured' | 'demo';
  /** The source the gateway reads (`LEADGRAPH_SOURCE`: `v4`, the default, or `kommo`) and its own settings; see src/sources/profiles.ts. */
  readonly source: SourceSettingsUnion;
  /** `LEADGRAPH_UPSTREAM_PAGE_SIZE`: the fixed upstream `limit` of a leads block (1..5000, default 500). */
  readonly upstreamPageSize: number;
  /** `LEADGRAPH_DEFAULT_PAGE_SIZE` (default 50) and `LEADGRAPH_MAX_PAGE_SIZE` (default 250). */
  readonly defaultPageSize: number;
  readonly maxPageSize: number;
  /** `LEADGRAPH_LEAD_LOOKUP_CONCURRENCY`: upstream calls in flight for lookups of leads by id, e.g. federation `_entities` (1..64, default 4). */
  readonly leadLookupConcurrency: number;
  /**
   * `LEADGRAPH_MAX_UPSTREAM_CALLS_PER_REQUEST`: upstream calls one GraphQL request may cause, estimated
   * before it runs and enforced while it runs (default per source: 20 on V4, 35 on Kommo).
   */
  readonly maxUpstreamCallsPerRequest: number;
  /** `LEADGRAPH_AUTH_FAILURES_PER_MINUTE`: upstream 401s per client id and per remote address a minute before new credentials are refused unasked (default 10). */
  readonly authFailuresPerMinute: number;
  /** `LEADGRAPH_TENANT_CALLS_IN_FLIGHT`: multi-tenant mode, upstream calls in flight per tenant, and for all not yet accepted together (default 8 of the 32 connections). */
  readonly tenantCallsInFlight: number;
  /** `LEADGRAPH_DEMO_LEADS`: leads of the embedded demo upstream's account (default 3000; up to 1,000,000, to try the gateway at scale offline). */
  readonly demoLeads: number;
  /** `LEADGRAPH_UPSTREAM_TIMEOUT_MS`: connect, headers and body timeouts of each upstream call (default 10000). */
  readonly upstreamTimeoutMs: number;
  /** `LEADGRAPH_RATE_MAX_WAIT_MS`: longest wait for a budget slot or a 429's Retry-After before failing fast (default 10000). */
  readonly rateMaxWaitMs: number;
  /** `LEADGRAPH_CLIENT_BUDGET_SHARE`: the share of a budget window one client may hold, above 0 and at most 1 (default 0.5; 1 turns the cap off, the order stays fair). */
  readonly clientBudgetShare: number;
  /** `LEADGRAPH_UPSTREAM_COOLDOWN_SECONDS`: after a blocked account's HTML 403 or repeated 429s (Kommo), no call for this long (default 300). */
  readonly upstreamCooldownSeconds: number;
  /** `LEADGRAPH_UPSTREAM_RETRIES`: extra attempts after a network error, timeout, 5xx or 429 (default 2). */
  readonly upstreamRetries: number;
  /** `LEADGRAPH_RETRY_BACKOFF_MS`: first retry delay, doubled per attempt, with full jitter (default 200). */
  readonly retryBackoffMs: number;
  /** `LEADGRAPH_REQUEST_TIMEOUT_MS`: overall deadline of one GraphQL request (default 30000). */
  readonly requestTimeoutMs: number;
  /** `LEADGRAPH_CACHE_TTL_LEADS_SECONDS` (default 600) and `LEADGRAPH_CACHE_TTL_REFERENCE_SECONDS` (default 3600); 0 turns caching off. */
  readonly cacheTtlLeadsSeconds: number;
  readonly cacheTtlReferenceSeconds: number;
  /** `LEADGRAPH_CACHE_MAX_MB`: memory the upstream cache may hold (default 128). */
  readonly cacheMaxMb: number;
  /** `LEADGRAPH_RESPONSE_CACHE_ENTRIES`: whole GraphQL responses kept per process (default 200; 0 turns the response cache off). */
  readonly responseCacheEntries: number;
  /** `LEADGRAPH_RESPONSE_CACHE_MB`: JSON bytes of whole responses the response cache may hold (default 32). */
  readonly responseCacheMb: number;
  /** `LEADGRAPH_COMPRESSION` (default true): gzip or brotli, as the client accepts, for bodies of at least `LEADGRAPH_COMPRESSION_MIN_BYTES` (default 1024). */
  readonly compression: boolean;
  readonly compressionMinBytes: number;
  /** `LEADGRAPH_JIT`: run queries compiled by graphql-jit (default true; false keeps every operation on the standard executor). */
  readonly jit: boolean;
  /** Query limits: `LEADGRAPH_MAX_DEPTH` (12), `LEADGRAPH_MAX_ALIASES` (20), `LEADGRAPH_MAX_TOKENS` (5000), `LEADGRAPH_MAX_COST` (25000), `LEADGRAPH_MAX_BODY_BYTES` (100000). */
  readonly maxDepth: number;
  readonly maxAliases: number;
  readonly maxTokens: number;
  readonly maxCost: number;
  readonly maxBodyBytes: number;
  /** `LEADGRAPH_REDIS_URL` (`redis://host:port/db`): replicas share the budget and the cache through it; unset keeps everything in process. */
  readonly redisUrl: string | null;
  /** `LEADGRAPH_REDIS_TIMEOUT_MS` (default 200): past it, a Redis command counts as failed. */
  readonly redisTimeoutMs: number;
  /** `LEADGRAPH_EXPECTED_REPLICAS` (default 3): while Redis is down, each replica spends budget / this. */
  readonly expectedReplicas: number;
  /** `LEADGRAPH_REDIS_MAX_VALUE_KB` (default 2048): larger upstream bodies stay in the local cache only. */
  readonly redisMaxValueKb: number;
  /** `LEADGRAPH_CORS_ORIGINS`: origins (exact `scheme://host[:port]`, comma-separated) allowed to read responses in a browser; none by default. */
  readonly corsOrigins: readonly string[];
  /** `LEADGRAPH_ALLOWED_HOSTS`: host names (comma-separated) accepted in `Host` besides loopback ones, while listening on loopback. */
  readonly allowedHosts: readonly string[];
  /** `LEADGRAPH_PERSISTED_DOCUMENTS`: trusted-document manifests (comma-separated files), read at start; null when unset. */
  readonly persistedDocuments: PersistedDocuments | null;
  /** `LEADGRAPH_TRUSTED_DOCUMENTS_ONLY` (default false): refuse every document that is not in the manifests (`PERSISTED_QUERY_ONLY`). */
  readonly trustedDocumentsOnly: boolean;
  /** `LEADGRAPH_ANY_DOCUMENT_TOKEN`: with trusted documents only, a request whose `x-leadgraph-any-document` header holds it may send any document (GraphiQL for the team). Never logged. */
  readonly anyDocumentToken: string | null;
  /** The lead index (src/index/): a synchronized snapshot per tenant that serves lead queries with no upstream call. */
  readonly index: IndexConfig;
  /** `LEADGRAPH_MAX_SUBSCRIPTIONS_PER_TENANT`: live `leadChanged` subscriptions one replica holds per tenant (default 100). */
  readonly maxSubscriptionsPerTenant: number;
  /** `LEADGRAPH_WARM_UP` (default true): at start, wait for the lead index's first read and run a few queries before /ready says ready. */
  readonly warmUp: boolean;
  /** `LOG_LEVEL` (default info). */
  readonly logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
}

export interface IndexConfig {
  /** `LEADGRAPH_INDEX` (`on`, the default, or `off`: pure pass-through). */
  readonly enabled: boolean;
  /** `LEADGRAPH_INDEX_REFRESH_SECONDS`, `LEADGRAPH_INDEX_OVERLAP_MINUTES`, `LEADGRAPH_INDEX_FULL_SYNC_MINUTES`: defaults per source (its profile). */
  readonly refreshSeconds: number;
  readonly overlapMinutes: number;
  readonly fullSyncMinutes: number;
  /** `LEADGRAPH_INDEX_MAX_LEADS`: leads one tenant's index holds at most (default 500,000, about 350 MB); a larger tenant stays on pass-through. */
  readonly maxLeads: number;
  /** `LEADGRAPH_INDEX_WAIT_MS`: how long a query that needs the index waits for it before INDEX_NOT_READY (default 5000). */
  readonly waitMs: number;
  /** `LEADGRAPH_INDEX_MAX_TENANTS`: indexes one process holds (multi-tenant mode; default 20); past it the least recently used goes. */
  readonly maxTenants: number;
  /** `LEADGRAPH_INDEX_IDLE_MINUTES`: multi-tenant mode, an index no request used for this long is dropped (default 60). */
  readonly idleMinutes: number;
}

export { ConfigError };

function readIndex(env: Env, defaults: IndexDefaults): IndexConfig {
  const raw = readString(env, 'LEADGRAPH_INDEX')?.toLowerCase();
  if (raw !== undefined && !['on', 'off', 'true', 'false', '1', '0'].includes(raw)) {
    throw new ConfigError('LEADGRAPH_INDEX', `expected on or off, got "${raw.slice(0, 40)}"`);
  }
  return Object.freeze({
    enabled: raw === undefined || raw === 'on' || raw === 'true' || raw === '1',
    refreshSeconds: readInt(env, 'LEADGRAPH_INDEX_REFRESH_SECONDS', defaults.refreshSeconds, 1, 86_400),
    overlapMinutes: readInt(env, 'LEADGRAPH_INDEX_OVERLAP_MINUTES', defaults.overlapMinutes, 0, 30 * 1440),
    fullSyncMinutes: readInt(env, 'LEADGRAPH_INDEX_FULL_SYNC_MINUTES', defaults.fullSyncMinutes, 1, 30 * 1440),
    maxLeads: readInt(env, 'LEADGRAPH_INDEX_MAX_LEADS', 500_000, 1, 10_000_000),
    waitMs: readInt(env, 'LEADGRAPH_INDEX_WAIT_MS', 5000, 0, 120_000),
    maxTenants: readInt(env, 'LEADGRAPH_INDEX_MAX_TENANTS', 20, 1, 10_000),
    idleMinutes: readInt(env, 'LEADGRAPH_INDEX_IDLE_MINUTES', 60, 1, 30 * 1440),
  });
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

function readRedisUrl(env: Env): string | null {
  const raw = readString(env, 'LEADGRAPH_REDIS_URL');
  if (raw === undefined) return null;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError('LEADGRAPH_REDIS_URL', 'is not a valid URL (e.g. redis://127.0.0.1:6379/0)');
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:')
    throw new ConfigError('LEADGRAPH_REDIS_URL', 'must be a redis:// or rediss:// URL');
  return raw;
}

/** A comma-separated list of exact origins: `scheme://host[:port]`, nothing more. */
function readOrigins(env: Env): string[] {
  const name = 'LEADGRAPH_CORS_ORIGINS';
  return (readString(env, name) ?? '')
    .split(',')
    .map((item) => item.trim())
    .filter(Boolean)
    .map((item) => {
      let url: URL | null = null;
      try {
        url = new URL(item);
      } catch {
        // reported below
      }
      if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:') || url.origin !== item) {
        throw new ConfigError(
          name,
          `"${item.slice(0, 80)}" is not an origin; list exact origins like https://app.example.com or http://localhost:5173`,
        );
      }
      return item;
    });
}

function readHosts(env: Env): string[] {
  const name = 'LEADGRAPH_ALLOWED_HOSTS';
  return (readString(env, name) ?? '')
    .split(',')
    .map((item) => item.trim().toLowerCase())
    .filter(Boolean)
    .map((item) => {
      if (!/^[a-z0-9.-]{1,253}$/.test(item)) throw new ConfigError(name, `"${item.slice(0, 80)}" is not a host name (no port, no scheme)`);
      return item;
    });
}

/** A share of the budget: a number above 0 and at most 1. */
function readShare(env: Env): number {
  const name = 'LEADGRAPH_CLIENT_BUDGET_SHARE';
  const raw = readString(env, name);
  if (raw === undefined) return 0.5;
  const value = /^(?:\d+(?:\.\d*)?|\.\d+)$/.test(raw) ? Number(raw) : Number.NaN;
  if (!(value > 0 && value <= 1)) {
    throw new ConfigError(name, `expected a number above 0 and at most 1 (e.g. 0.5), got "${raw.slice(0, 40)}"`);
  }
  return value;
}

function readTrustedDocuments(env: Env): Pick<Config, 'persistedDocuments' | 'trustedDocumentsOnly' | 'anyDocumentToken'> {
  const persistedDocuments = readPersistedDocuments(env, 'LEADGRAPH_PERSISTED_DOCUMENTS');
  const trustedDocumentsOnly = readBool(env, 'LEADGRAPH_TRUSTED_DOCUMENTS_ONLY', false);
  if (trustedDocumentsOnly && !persistedDocuments) {
    throw new ConfigError(
      'LEADGRAPH_TRUSTED_DOCUMENTS_ONLY',
      'is true while LEADGRAPH_PERSISTED_DOCUMENTS names no manifest: nothing could run',
    );
  }
  const anyDocumentToken = readString(env, 'LEADGRAPH_ANY_DOCUMENT_TOKEN') ?? null;
  if (anyDocumentToken !== null && !trustedDocumentsOnly) {
    throw new ConfigError(
      'LEADGRAPH_ANY_DOCUMENT_TOKEN',
      'works with LEADGRAPH_TRUSTED_DOCUMENTS_ONLY=true only (otherwise any document runs anyway)',
    );
  }
  if (anyDocumentToken !== null && !/^[\x21-\x7e]{16,512}$/.test(anyDocumentToken)) {
    throw new ConfigError('LEADGRAPH_ANY_DOCUMENT_TOKEN', 'must be 16 to 512 visible ASCII characters, without spaces (a random secret)');
  }
  return { persistedDocuments, trustedDocumentsOnly, anyDocumentToken };
}

const listed = (names: readonly string[]): string => `${names.slice(0, -1).join(', ')} and ${names.at(-1)}`;

/** Reads every profile, picks the source (`LEADGRAPH_SOURCE`, else the only one with credentials, else the first) and refuses mixed settings. */
function readSource(env: Env): {
  settings: SourceSettingsUnion;
  configured: boolean;
  pageSize: { default: number; max: number };
  callLimit: number;
  index: IndexDefaults;
} {
  const readings = profiles.map((profile) => ({ profile, ...profile.read(env) }));
  const withCredentials = readings.filter((reading) => reading.credentialsSet);
  const kind =
    readString(env, 'LEADGRAPH_SOURCE') ??
    (withCredentials.length === 1 ? withCredentials[0]?.profile.kind : undefined) ??
    profiles[0].kind;
  const chosen = readings.find((reading) => reading.profile.kind === kind);
  if (!chosen) {
    throw new ConfigError('LEADGRAPH_SOURCE', `expected ${profiles.map((profile) => profile.kind).join(' or ')}, got "${kind}"`);
  }
  for (const other of readings) {
    if (other === chosen) continue;
    const own = other.profile.enabledOnlyHere(env);
    if (own) throw new ConfigError(own, `works with the ${other.profile.kind} source only`);
    if (other.credentialsSet) {
      throw new ConfigError(
        'LEADGRAPH_SOURCE',
        `is ${kind} while ${listed(other.profile.credentialVariables)} are set; set LEADGRAPH_SOURCE=${other.profile.kind}, or unset those`,
      );
    }
  }
  return {
    settings: chosen.settings,
    configured: chosen.configured,
    pageSize: chosen.profile.pageSize,
    callLimit: chosen.profile.callLimit,
    index: chosen.profile.index,
  };
}

export function loadConfig(env: Env = process.env): Config {
  const source = readSource(env);
  const defaultPageSize = readInt(env, 'LEADGRAPH_DEFAULT_PAGE_SIZE', 50, 1, 5000);
  const maxPageSize = readInt(env, 'LEADGRAPH_MAX_PAGE_SIZE', 250, 1, 5000);
  if (defaultPageSize > maxPageSize) {
    throw new ConfigError('LEADGRAPH_DEFAULT_PAGE_SIZE', `must not exceed LEADGRAPH_MAX_PAGE_SIZE (${maxPageSize})`);
  }
  const logLevel = readString(env, 'LOG_LEVEL') ?? 'info';
  if (!(LOG_LEVELS as readonly string[]).includes(logLevel)) {
    throw new ConfigError('LOG_LEVEL', `expected one of ${LOG_LEVELS.join(', ')}`);
  }
  return Object.freeze({
    port: readInt(env, 'PORT', 4000, 0, 65535),
    host: readString(env, 'HOST') ?? '127.0.0.1',
    upstream: source.configured ? 'configured' : 'demo',
    source: Object.freeze(source.settings),
    upstreamPageSize: readInt(env, 'LEADGRAPH_UPSTREAM_PAGE_SIZE', source.pageSize.default, 1, source.pageSize.max),
    defaultPageSize,
    maxPageSize,
    leadLookupConcurrency: readInt(env, 'LEADGRAPH_LEAD_LOOKUP_CONCURRENCY', 4, 1, 64),
    maxUpstreamCallsPerRequest: readInt(env, 'LEADGRAPH_MAX_UPSTREAM_CALLS_PER_REQUEST', source.callLimit, 1, 100_000),
    authFailuresPerMinute: readInt(env, 'LEADGRAPH_AUTH_FAILURES_PER_MINUTE', 10, 1, 100_000),
    tenantCallsInFlight: readInt(env, 'LEADGRAPH_TENANT_CALLS_IN_FLIGHT', 8, 1, 32),
    demoLeads: readInt(env, 'LEADGRAPH_DEMO_LEADS', 3000, 1, 1_000_000),
    upstreamTimeoutMs: readInt(env, 'LEADGRAPH_UPSTREAM_TIMEOUT_MS', 10_000, 100, 300_000),
    rateMaxWaitMs: readInt(env, 'LEADGRAPH_RATE_MAX_WAIT_MS', 10_000, 0, 600_000),
    clientBudgetShare: readShare(env),
    upstreamRetries: readInt(env, 'LEADGRAPH_UPSTREAM_RETRIES', 2, 0, 10),
    upstreamCooldownSeconds: readInt(env, 'LEADGRAPH_UPSTREAM_COOLDOWN_SECONDS', 300, 1, 86_400),
    retryBackoffMs: readInt(env, 'LEADGRAPH_RETRY_BACKOFF_MS', 200, 1, 60_000),
    requestTimeoutMs: readInt(env, 'LEADGRAPH_REQUEST_TIMEOUT_MS', 30_000, 100, 600_000),
    cacheTtlLeadsSeconds: readInt(env, 'LEADGRAPH_CACHE_TTL_LEADS_SECONDS', 600, 0, 7 * 86_400),
    cacheTtlReferenceSeconds: readInt(env, 'LEADGRAPH_CACHE_TTL_REFERENCE_SECONDS', 3600, 0, 7 * 86_400),
    cacheMaxMb: readInt(env, 'LEADGRAPH_CACHE_MAX_MB', 128, 1, 65_536),
    responseCacheEntries: readInt(env, 'LEADGRAPH_RESPONSE_CACHE_ENTRIES', 200, 0, 100_000),
    responseCacheMb: readInt(env, 'LEADGRAPH_RESPONSE_CACHE_MB', 32, 1, 65_536),
    compression: readBool(env, 'LEADGRAPH_COMPRESSION', true),
    compressionMinBytes: readInt(env, 'LEADGRAPH_COMPRESSION_MIN_BYTES', 1024, 0, 100_000_000),
    jit: readBool(env, 'LEADGRAPH_JIT', true),
    maxDepth: readInt(env, 'LEADGRAPH_MAX_DEPTH', 12, 1, 1000),
    maxAliases: readInt(env, 'LEADGRAPH_MAX_ALIASES', 20, 0, 10_000),
    maxTokens: readInt(env, 'LEADGRAPH_MAX_TOKENS', 5000, 10, 1_000_000),
    maxCost: readInt(env, 'LEADGRAPH_MAX_COST', 25_000, 1, 100_000_000),
    maxBodyBytes: readInt(env, 'LEADGRAPH_MAX_BODY_BYTES', 100_000, 1000, 100_000_000),
    redisUrl: readRedisUrl(env),
    redisTimeoutMs: readInt(env, 'LEADGRAPH_REDIS_TIMEOUT_MS', 200, 10, 60_000),
    expectedReplicas: readInt(env, 'LEADGRAPH_EXPECTED_REPLICAS', 3, 1, 1000),
    redisMaxValueKb: readInt(env, 'LEADGRAPH_REDIS_MAX_VALUE_KB', 2048, 1, 512 * 1024),
    corsOrigins: Object.freeze(readOrigins(env)),
    allowedHosts: Object.freeze(readHosts(env)),
    ...readTrustedDocuments(env),
    index: readIndex(env, source.index),
    warmUp: readBool(env, 'LEADGRAPH_WARM_UP', true),
    maxSubscriptionsPerTenant: readInt(env, 'LEADGRAPH_MAX_SUBSCRIPTIONS_PER_TENANT', 100, 1, 100_000),
    logLevel: logLevel as Config['logLevel'],
  } satisfies Config);
}
