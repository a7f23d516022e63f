/** Environment -> one typed, validated, frozen Config. Every problem names its variable. */

export interface V4Credentials {
  readonly clientId: string;
  readonly clientSecret: string;
  readonly workspaceId: string;
}

export interface Config {
  /** Where the gateway listens. `PORT` (default 4000), `HOST` (default 127.0.0.1). */
  readonly port: number;
  readonly host: string;
  /** `configured` serves a real account (V4 credentials, multi-tenant mode or Kommo settings); `demo` starts the embedded demo upstream. */
  readonly upstream: 'configured' | 'demo';
  /** Which API the gateway reads: `LEADGRAPH_SOURCE` (`v4` or `kommo`; default `v4`). With `source` `demo`, the demo speaks it. */
  readonly api: 'v4' | 'kommo';
  /** `KOMMO_BASE_URL` (`https://{subdomain}.kommo.com`) and `KOMMO_TOKEN` (bearer); set together, for `api` `kommo`. */
  readonly kommoBaseUrl: string | null;
  readonly kommoToken: string | null;
  /** `LEADGRAPH_KOMMO_RATE_PER_SEC`: Kommo calls per second per account (default 7, Kommo's limit). */
  readonly kommoRatePerSecond: number;
  /** `V4_API_URL`, default https://api.data.v4.marketing. */
  readonly v4ApiUrl: string;
  /** Set when `source` is `v4`. */
  readonly v4Credentials: V4Credentials | null;
  /** Optional narrowing filters sent on every V4 call. */
  readonly v4IntegrationId: string | null;
  readonly v4OrganizationId: string | null;
  /** `LEADGRAPH_UPSTREAM_PAGE_SIZE`: the fixed upstream `limit` of a leads block (1..5000, default 500). */
  readonly upstreamPageSize: number;
  /** `LEADGRAPH_DEFAULT_PAGE_SIZE` (default 50) and `LEADGRAPH_MAX_PAGE_SIZE` (default 250). */
  readonly defaultPageSize: number;
  readonly maxPageSize: number;
  /** `LEADGRAPH_LEAD_LOOKUP_CONCURRENCY`: upstream calls in flight for lookups of leads by id, e.g. federation `_entities` (1..64, default 4). */
  readonly leadLookupConcurrency: number;
  /** `LEADGRAPH_UPSTREAM_TIMEOUT_MS`: connect, headers and body timeouts of each upstream call (default 10000). */
  readonly upstreamTimeoutMs: number;
  /** `LEADGRAPH_CREDENTIALS_FROM_REQUEST`: use each request's x-client-id, x-client-secret, x-workspace-id upstream (default false). */
  readonly credentialsFromRequest: boolean;
  /** `LEADGRAPH_V4_RATE_PER_MIN`: upstream calls per rolling minute per credential (default 100, the V4 budget). */
  readonly v4RatePerMinute: number;
  /** `LEADGRAPH_RATE_MAX_WAIT_MS`: longest wait for a budget slot or a 429's Retry-After before failing fast (default 10000). */
  readonly rateMaxWaitMs: number;
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
  /** `LOG_LEVEL` (default info). */
  readonly logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
}

export class ConfigError extends Error {
  constructor(
    readonly variable: string,
    message: string,
  ) {
    super(`${variable}: ${message}`);
    this.name = 'ConfigError';
  }
}

type Env = Readonly<Record<string, string | undefined>>;

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
const UUIDISH = /^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/;

function readString(env: Env, name: string): string | undefined {
  const value = env[name]?.trim();
  return value === undefined || value === '' ? undefined : value;
}

function readInt(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = readString(env, name);
  if (raw === undefined) return fallback;
  if (!/^\d+$/.test(raw)) {
    throw new ConfigError(name, `expected a whole number from ${min} to ${max}, got "${raw}"`);
  }
  const value = Number(raw);
  if (value < min || value > max) {
    throw new ConfigError(name, `expected a whole number from ${min} to ${max}, got ${value}`);
  }
  return value;
}

function readBool(env: Env, name: string, fallback: boolean): boolean {
  const raw = readString(env, name)?.toLowerCase();
  if (raw === undefined) return fallback;
  if (['true', '1', 'yes'].includes(raw)) return true;
  if (['false', '0', 'no'].includes(raw)) return false;
  throw new ConfigError(name, `expected true or false, got "${raw}"`);
}

function readUrl(env: Env, name: string, fallback: string): string {
  const raw = readString(env, name) ?? fallback;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError(name, 'is not a valid URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new ConfigError(name, 'must be an http:// or https:// URL');
  }
  if (url.username || url.password) {
    throw new ConfigError(name, 'must not carry credentials; use V4_CLIENT_ID and V4_CLIENT_SECRET');
  }
  if (url.search || url.hash) {
    throw new ConfigError(name, 'must not have a query string or fragment');
  }
  return url.toString().replace(/\/+$/, '');
}

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

function readId(env: Env, name: string): string | null {
  const value = readString(env, name);
  if (value === undefined) return null;
  if (!UUIDISH.test(value)) throw new ConfigError(name, 'has characters an id cannot have');
  return value;
}

function readCredentials(env: Env): V4Credentials | null {
  const names = ['V4_CLIENT_ID', 'V4_CLIENT_SECRET', 'V4_WORKSPACE_ID'] as const;
  const values = names.map((name) => readString(env, name));
  const set = values.filter((value) => value !== undefined).length;
  if (set === 0) return null;
  const missing = names.find((_, i) => values[i] === undefined);
  if (missing) {
    throw new ConfigError(
      missing,
      'is missing; set all of V4_CLIENT_ID, V4_CLIENT_SECRET and V4_WORKSPACE_ID, or none of them for the demo upstream',
    );
  }
  const [clientId, clientSecret, workspaceId] = values as [string, string, string];
  if (!UUIDISH.test(clientId)) throw new ConfigError('V4_CLIENT_ID', 'has characters an id cannot have');
  if (!UUIDISH.test(workspaceId)) throw new ConfigError('V4_WORKSPACE_ID', 'has characters an id cannot have');
  if (/[\r\n]/.test(clientSecret)) throw new ConfigError('V4_CLIENT_SECRET', 'must be one line');
  return { clientId, clientSecret, workspaceId };
}

function readKommo(env: Env): { baseUrl: string; token: string } | null {
  const baseUrl = readString(env, 'KOMMO_BASE_URL');
  const token = readString(env, 'KOMMO_TOKEN');
  if (baseUrl === undefined && token === undefined) return null;
  if (baseUrl === undefined)
    throw new ConfigError('KOMMO_BASE_URL', 'is missing; set it with KOMMO_TOKEN (e.g. https://yoursubdomain.kommo.com)');
  if (token === undefined) throw new ConfigError('KOMMO_TOKEN', 'is missing; set it with KOMMO_BASE_URL');
  if (/[\r\n\s]/.test(token)) throw new ConfigError('KOMMO_TOKEN', 'must be one token without spaces');
  return { baseUrl: readUrl(env, 'KOMMO_BASE_URL', baseUrl), token };
}

export function loadConfig(env: Env = process.env): Config {
  const v4Credentials = readCredentials(env);
  const kommo = readKommo(env);
  const api = readString(env, 'LEADGRAPH_SOURCE') ?? (kommo && !v4Credentials ? 'kommo' : 'v4');
  if (api !== 'v4' && api !== 'kommo') throw new ConfigError('LEADGRAPH_SOURCE', `expected v4 or kommo, got "${api}"`);
  if (api === 'v4' && kommo) {
    throw new ConfigError(
      'LEADGRAPH_SOURCE',
      'is v4 while KOMMO_BASE_URL and KOMMO_TOKEN are set; set LEADGRAPH_SOURCE=kommo, or unset the Kommo settings',
    );
  }
  if (api === 'kommo' && v4Credentials) {
    throw new ConfigError(
      'LEADGRAPH_SOURCE',
      'is kommo while V4_CLIENT_ID, V4_CLIENT_SECRET and V4_WORKSPACE_ID are set; unset those, or the Kommo settings',
    );
  }
  const credentialsFromRequest = readBool(env, 'LEADGRAPH_CREDENTIALS_FROM_REQUEST', false);
  if (credentialsFromRequest && api === 'kommo') {
    throw new ConfigError('LEADGRAPH_CREDENTIALS_FROM_REQUEST', 'works with the v4 source only');
  }
  if (credentialsFromRequest && v4Credentials) {
    throw new ConfigError(
      'LEADGRAPH_CREDENTIALS_FROM_REQUEST',
      'is true while V4_CLIENT_ID, V4_CLIENT_SECRET and V4_WORKSPACE_ID are set; requests bring their own credentials in this mode, so unset those',
    );
  }
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
    upstream: v4Credentials || credentialsFromRequest || kommo ? 'configured' : 'demo',
    api,
    kommoBaseUrl: kommo?.baseUrl ?? null,
    kommoToken: kommo?.token ?? null,
    kommoRatePerSecond: readInt(env, 'LEADGRAPH_KOMMO_RATE_PER_SEC', 7, 1, 1000),
    v4ApiUrl: readUrl(env, 'V4_API_URL', 'https://api.data.v4.marketing'),
    v4Credentials: v4Credentials ? Object.freeze(v4Credentials) : null,
    v4IntegrationId: readId(env, 'V4_INTEGRATION_ID'),
    v4OrganizationId: readId(env, 'V4_ORGANIZATION_ID'),
    // Kommo pages hold at most 250 leads; the V4 API takes up to 5000 rows.
    upstreamPageSize: readInt(env, 'LEADGRAPH_UPSTREAM_PAGE_SIZE', api === 'kommo' ? 250 : 500, 1, api === 'kommo' ? 250 : 5000),
    defaultPageSize,
    maxPageSize,
    leadLookupConcurrency: readInt(env, 'LEADGRAPH_LEAD_LOOKUP_CONCURRENCY', 4, 1, 64),
    upstreamTimeoutMs: readInt(env, 'LEADGRAPH_UPSTREAM_TIMEOUT_MS', 10_000, 100, 300_000),
    credentialsFromRequest,
    v4RatePerMinute: readInt(env, 'LEADGRAPH_V4_RATE_PER_MIN', 100, 1, 1_000_000),
    rateMaxWaitMs: readInt(env, 'LEADGRAPH_RATE_MAX_WAIT_MS', 10_000, 0, 600_000),
    upstreamRetries: readInt(env, 'LEADGRAPH_UPSTREAM_RETRIES', 2, 0, 10),
    retryBackoffMs: readInt(env, 'LEADGRAPH_RETRY_BACKOFF_MS', 200, 1, 60_000),
    requestTimeoutMs: readInt(env, 'LEADGRAPH_REQUEST_TIMEOUT_MS', 30_000, 100, 600_000),
    cacheTtlLeadsSeconds: readInt(env, 'LEADGRAPH_CACHE_TTL_LEADS_SECONDS', 600, 0, 7 * 86_400),
    cacheTtlReferenceSeconds: readInt(env, 'LEADGRAPH_CACHE_TTL_REFERENCE_SECONDS', 3600, 0, 7 * 86_400),
    cacheMaxMb: readInt(env, 'LEADGRAPH_CACHE_MAX_MB', 128, 1, 65_536),
    responseCacheEntries: readInt(env, 'LEADGRAPH_RESPONSE_CACHE_ENTRIES', 200, 0, 100_000),
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
    logLevel: logLevel as Config['logLevel'],
  } satisfies Config);
}
