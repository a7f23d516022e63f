/** The V4 Marketing data API as a source: settings, budget, tenants (server or per-request credentials), adapter. */
import { createHash } from 'node:crypto';
import { ConfigError, type Env, isIdLike, readBool, readId, readInt, readString, readUrl } from '../../env.js';
import { DomainError } from '../../errors.js';
import type { Tenant } from '../../transport/tenant.js';
import type { SourceProfile } from '../profile.js';
import { createV4Adapter } from './adapter.js';

export interface V4Credentials {
  readonly clientId: string;
  readonly clientSecret: string;
  readonly workspaceId: string;
}

export interface V4Settings {
  readonly kind: 'v4';
  /** `V4_API_URL`, default https://api.data.v4.marketing. */
  readonly apiUrl: string;
  /** `V4_CLIENT_ID`, `V4_CLIENT_SECRET`, `V4_WORKSPACE_ID`: all three or none. */
  readonly credentials: V4Credentials | null;
  /** `LEADGRAPH_CREDENTIALS_FROM_REQUEST`: use each request's x-client-id, x-client-secret, x-workspace-id upstream (default false). */
  readonly credentialsFromRequest: boolean;
  /** `V4_INTEGRATION_ID`, `V4_ORGANIZATION_ID`: optional narrowing filters sent on every call. */
  readonly integrationId: string | null;
  readonly organizationId: string | null;
  /** `LEADGRAPH_V4_RATE_PER_MIN`: upstream calls per rolling minute per credential (default 100, the V4 budget). */
  readonly ratePerMinute: number;
}

const CREDENTIALS = ['V4_CLIENT_ID', 'V4_CLIENT_SECRET', 'V4_WORKSPACE_ID'] as const;
const CREDENTIAL_HEADERS = { clientId: 'x-client-id', clientSecret: 'x-client-secret', workspaceId: 'x-workspace-id' } as const;

function readCredentials(env: Env): V4Credentials | null {
  const values = CREDENTIALS.map((name) => readString(env, name));
  const set = values.filter((value) => value !== undefined).length;
  if (set === 0) return null;
  const missing = CREDENTIALS.find((_, i) => values[i] === undefined);
  if (missing) {
    throw new ConfigError(
      missing,
      'is missing; set all of V4_CLIENT_ID, V4_CLIENT_SECRET and V4_WORKSPACE_ID, or none of them for the demo upstream',
    );
  }
  const [clientId, clientSecret, workspaceId] = values as [string, string, string];
  if (!isIdLike(clientId)) throw new ConfigError('V4_CLIENT_ID', 'has characters an id cannot have');
  if (!isIdLike(workspaceId)) throw new ConfigError('V4_WORKSPACE_ID', 'has characters an id cannot have');
  if (/[\r\n]/.test(clientSecret)) throw new ConfigError('V4_CLIENT_SECRET', 'must be one line');
  return Object.freeze({ clientId, clientSecret, workspaceId });
}

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

/** The budget is per credential (client id and a hash of the secret); the cache per credential and workspace. */
function v4Tenant(baseUrl: string, credentials: V4Credentials): Tenant {
  const credentialKey = sha256(['v4', baseUrl, credentials.clientId, sha256(credentials.clientSecret)].join('\0'));
  const cacheKey = sha256([credentialKey, credentials.workspaceId].join('\0'));
  return {
    credentialKey,
    accountKey: sha256(['v4', baseUrl, credentials.clientId].join('\0')),
    cacheKey,
    label: cacheKey.slice(0, 10),
    headers: { 'x-client-id': credentials.clientId, 'x-client-secret': credentials.clientSecret },
    secrets: [credentials.clientSecret],
  };
}

/** Multi-tenant mode: the request's own credential headers, all three, never mixed with the server's. */
function requestCredentials(request: Request): V4Credentials {
  const read = (header: string): string | null => {
    const value = request.headers.get(header)?.trim();
    if (value && value.length > 512) {
      throw new DomainError('UNAUTHENTICATED', `The ${header} header is longer than 512 characters: send the credential itself`, {
        http: { status: 401 },
      });
    }
    return value && !/[\r\n]/.test(value) ? value : null;
  };
  const values = {
    clientId: read(CREDENTIAL_HEADERS.clientId),
    clientSecret: read(CREDENTIAL_HEADERS.clientSecret),
    workspaceId: read(CREDENTIAL_HEADERS.workspaceId),
  };
  const missing = (Object.keys(values) as (keyof typeof values)[])
    .filter((key) => values[key] === null)
    .map((key) => CREDENTIAL_HEADERS[key]);
  if (missing.length > 0) {
    throw new DomainError('UNAUTHENTICATED', `This gateway takes upstream credentials from each request: send ${missing.join(', ')}`, {
      missingHeaders: missing,
      http: { status: 401 },
    });
  }
  return values as V4Credentials;
}

export const v4Profile: SourceProfile<V4Settings> = {
  kind: 'v4',
  upstreamName: 'V4 API',
  credentialVariables: CREDENTIALS,
  pageSize: { default: 500, max: 5000 },
  callLimit: 20,
  // The warehouse loads Kommo's changes about daily and caches answers for 30 minutes: a refresh every 5
  // minutes is 12 calls an hour of 6,000. A change can show up to a day after the time it carries, so
  // each refresh reads the last 48 hours again (a daily load that is late or skipped once included).
  // A full re-read every 12 hours: ceil(rows / 5000) calls.
  index: { refreshSeconds: 300, overlapMinutes: 48 * 60, fullSyncMinutes: 12 * 60 },
  enabledOnlyHere: (env) => (readBool(env, 'LEADGRAPH_CREDENTIALS_FROM_REQUEST', false) ? 'LEADGRAPH_CREDENTIALS_FROM_REQUEST' : null),

  read(env) {
    const credentials = readCredentials(env);
    const credentialsFromRequest = readBool(env, 'LEADGRAPH_CREDENTIALS_FROM_REQUEST', false);
    if (credentialsFromRequest && credentials) {
      throw new ConfigError(
        'LEADGRAPH_CREDENTIALS_FROM_REQUEST',
        'is true while V4_CLIENT_ID, V4_CLIENT_SECRET and V4_WORKSPACE_ID are set; requests bring their own credentials in this mode, so unset those',
      );
    }
    return {
      settings: {
        kind: 'v4',
        apiUrl: readUrl(env, 'V4_API_URL', 'https://api.data.v4.marketing'),
        credentials,
        credentialsFromRequest,
        integrationId: readId(env, 'V4_INTEGRATION_ID'),
        organizationId: readId(env, 'V4_ORGANIZATION_ID'),
        ratePerMinute: readInt(env, 'LEADGRAPH_V4_RATE_PER_MIN', 100, 1, 1_000_000),
      },
      credentialsSet: credentials !== null,
      configured: credentials !== null || credentialsFromRequest,
    };
  },

  withDemo: (settings, demo) => ({
    ...settings,
    apiUrl: demo.url,
    credentials: { clientId: demo.clientId, clientSecret: demo.clientSecret, workspaceId: demo.workspaceId },
  }),

  baseUrl: (settings) => settings.apiUrl,

  connect(settings, options) {
    // One tenant in single-tenant mode: its hashed keys are computed once, not per request.
    const serverTenant = settings.credentials ? v4Tenant(settings.apiUrl, settings.credentials) : null;
    const serverCredentials = settings.credentials;
    return {
      upstreamName: v4Profile.upstreamName,
      baseUrl: settings.apiUrl,
      // The window carries a margin: the upstream counts arrivals, and network jitter must not make a
      // budget of exactly its limit look like one call too many.
      budget: { limit: settings.ratePerMinute, windowMs: 61_000, variable: 'LEADGRAPH_V4_RATE_PER_MIN' },
      multiTenant: settings.credentialsFromRequest,
      tenantHeaders: settings.credentialsFromRequest ? Object.values(CREDENTIAL_HEADERS) : [],
      tenantOf(request) {
        let credentials: V4Credentials;
        let tenant: Tenant;
        if (settings.credentialsFromRequest) {
          credentials = requestCredentials(request);
          tenant = v4Tenant(settings.apiUrl, credentials);
        } else {
          if (!serverCredentials || !serverTenant) throw new Error('no V4 credentials configured');
          credentials = serverCredentials;
          tenant = serverTenant;
        }
        return {
          tenant,
          createAdapter: (transport) =>
            createV4Adapter({
              transport,
              workspaceId: credentials.workspaceId,
              integrationId: settings.integrationId,
              organizationId: settings.organizationId,
              blockSize: options.blockSize,
              lookupConcurrency: options.lookupConcurrency,
            }),
        };
      },
    };
  },
};
