/**
 * The rejected-credentials layer: once the upstream answers 401 for a credential, further calls with
 * it fail at once for a while, with the same error, instead of asking again. A client guessing secrets
 * in multi-tenant mode (each guess is a credential of its own) then costs the upstream one call per
 * distinct guess, and a wrong configured secret one call per `rememberMs`, not one per request.
 */
import { LRUCache } from 'lru-cache';
import type { UpstreamError } from '../errors.js';
import { type Layer, refused } from './call.js';

export interface RejectedCredentialsOptions {
  /** How long a 401 is remembered for a credential. */
  readonly rememberMs: number;
  /** Credentials remembered at once (least recently rejected forgotten first). */
  readonly maxCredentials: number;
  /** @default Date.now */
  readonly now?: () => number;
}

export function rejectedCredentials(options: RejectedCredentialsOptions): Layer {
  // Keyed by the credential key (client id and a hash of the secret): never the secret itself.
  const rejected = new LRUCache<string, UpstreamError>({
    max: options.maxCredentials,
    ttl: options.rememberMs,
    perf: { now: options.now ?? Date.now },
  });
  return (next) => async (request) => {
    const known = rejected.get(request.tenant.credentialKey);
    if (known) throw refused(known);
    try {
      return await next(request);
    } catch (error) {
      const failure = error as UpstreamError;
      if (failure.code === 'UPSTREAM_UNAUTHORIZED') rejected.set(request.tenant.credentialKey, failure);
      throw error;
    }
  };
}
