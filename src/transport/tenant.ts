import { createHash } from 'node:crypto';

/** Who the upstream sees: keys for the cache and the budget, the headers that authenticate. */
export interface Tenant {
  /** The budget is per upstream credential (client id + hash of the secret). */
  readonly credentialKey: string;
  /** Cache entries are per credential and workspace: another secret never reads them. */
  readonly cacheKey: string;
  /** Short, non-reversible label for logs. */
  readonly label: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly secrets: readonly string[];
}

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

export function v4Tenant(baseUrl: string, credentials: { clientId: string; clientSecret: string; workspaceId: string }): Tenant {
  const credentialKey = sha256(['v4', baseUrl, credentials.clientId, sha256(credentials.clientSecret)].join('\0'));
  const cacheKey = sha256([credentialKey, credentials.workspaceId].join('\0'));
  return {
    credentialKey,
    cacheKey,
    label: cacheKey.slice(0, 10),
    headers: { 'x-client-id': credentials.clientId, 'x-client-secret': credentials.clientSecret },
    secrets: [credentials.clientSecret],
  };
}

export function kommoTenant(baseUrl: string, token: string): Tenant {
  const credentialKey = sha256(['kommo', baseUrl, sha256(token)].join('\0'));
  return {
    credentialKey,
    cacheKey: credentialKey, // one account per base URL and token
    label: credentialKey.slice(0, 10),
    headers: { authorization: `Bearer ${token}` },
    secrets: [token],
  };
}
