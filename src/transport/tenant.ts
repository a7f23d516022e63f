/**
 * Who the upstream sees: keys for the cache and the budget, the headers that authenticate. Each
 * source's profile derives its tenants (src/sources/<name>/profile.ts); the transport only reads them.
 */
export interface Tenant {
  /** The budget is per upstream credential (client id + hash of the secret). */
  readonly credentialKey: string;
  /**
   * The account behind the credential, without its secret (V4: the client id): failed
   * authentications are budgeted per account, so guessing secrets of one client id stays cheap.
   */
  readonly accountKey: string;
  /** Cache entries are per credential and workspace: another secret never reads them. */
  readonly cacheKey: string;
  /** Short, non-reversible label for logs. */
  readonly label: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly secrets: readonly string[];
}
