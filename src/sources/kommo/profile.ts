/** Kommo's own API v4 as a source: one account per base URL and token, 7 calls a second. */
import { createHash } from 'node:crypto';
import { ConfigError, type Env, readInt, readString, readUrl } from '../../env.js';
import type { Tenant } from '../../transport/tenant.js';
import type { SourceProfile } from '../profile.js';
import { createKommoAdapter } from './adapter.js';
import { kommoResponseRules } from './http-rules.js';

export interface KommoSettings {
  readonly kind: 'kommo';
  /** `KOMMO_BASE_URL` (`https://{subdomain}.kommo.com`) and `KOMMO_TOKEN` (bearer): set together, or neither for the demo. */
  readonly baseUrl: string | null;
  readonly token: string | null;
  /** `LEADGRAPH_KOMMO_RATE_PER_SEC`: calls per second per account (default 7, Kommo's limit). */
  readonly ratePerSecond: number;
}

function readAccount(env: Env): { baseUrl: string; token: string } | null {
  const baseUrl = readString(env, 'KOMMO_BASE_URL');
  const token = readString(env, 'KOMMO_TOKEN');
  if (baseUrl === undefined && token === undefined) return null;
  if (baseUrl === undefined)
    throw new ConfigError('KOMMO_BASE_URL', 'is missing; set it with KOMMO_TOKEN (e.g. https://yoursubdomain.kommo.com)');
  if (token === undefined) throw new ConfigError('KOMMO_TOKEN', 'is missing; set it with KOMMO_BASE_URL');
  if (/[\r\n\s]/.test(token)) throw new ConfigError('KOMMO_TOKEN', 'must be one token without spaces');
  return { baseUrl: readUrl(env, 'KOMMO_BASE_URL', baseUrl), token };
}

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

function kommoTenant(baseUrl: string, token: string): Tenant {
  const credentialKey = sha256(['kommo', baseUrl, sha256(token)].join('\0'));
  return {
    credentialKey,
    accountKey: credentialKey, // a token is its own account: nothing public identifies it
    cacheKey: credentialKey, // one account per base URL and token
    label: credentialKey.slice(0, 10),
    headers: { authorization: `Bearer ${token}` },
    secrets: [token],
  };
}

export const kommoProfile: SourceProfile<KommoSettings> = {
  kind: 'kommo',
  upstreamName: 'Kommo API',
  credentialVariables: ['KOMMO_BASE_URL', 'KOMMO_TOKEN'],
  // Kommo pages hold at most 250 leads.
  pageSize: { default: 250, max: 250 },
  callLimit: 35,
  // Kommo changes any second: a refresh every 10 s costs 2 calls (changes and deletions), 3% of its
  // 7 a second. The overlap covers the clocks of Kommo and the gateway disagreeing; a full re-read every
  // 6 hours is ceil(leads / 250) calls.
  index: { refreshSeconds: 10, overlapMinutes: 5, fullSyncMinutes: 6 * 60 },
  enabledOnlyHere: () => null,

  read(env) {
    const account = readAccount(env);
    return {
      settings: {
        kind: 'kommo',
        baseUrl: account?.baseUrl ?? null,
        token: account?.token ?? null,
        ratePerSecond: readInt(env, 'LEADGRAPH_KOMMO_RATE_PER_SEC', 7, 1, 1000),
      },
      credentialsSet: account !== null,
      configured: account !== null,
    };
  },

  withDemo: (settings, demo) => ({ ...settings, baseUrl: demo.url, token: demo.kommoToken }),

  baseUrl: (settings) => settings.baseUrl ?? '',

  connect(settings, options) {
    const { baseUrl, token } = settings;
    if (baseUrl === null || token === null) throw new Error('no Kommo account configured');
    const tenant = kommoTenant(baseUrl, token);
    const adapterOptions = { blockSize: options.blockSize, lookupConcurrency: options.lookupConcurrency };
    return {
      upstreamName: kommoProfile.upstreamName,
      baseUrl,
      // The window carries a margin: Kommo counts arrivals, and jitter must not turn 7 calls into 8 in its second.
      budget: { limit: settings.ratePerSecond, windowMs: 1_100, variable: 'LEADGRAPH_KOMMO_RATE_PER_SEC' },
      multiTenant: false,
      responseRules: kommoResponseRules,
      // Kommo blocks an account that keeps exceeding 7 a second (HTML 403 on every call): never call on into that.
      breaker: { openOnHtmlForbidden: true, rateLimitedInARow: 3 },
      tenantOf: () => ({ tenant, createAdapter: (transport) => createKommoAdapter({ transport, ...adapterOptions }) }),
    };
  },
};
