/**
 * Expected failures, as plain classes with a stable `code`. The server turns them into GraphQL
 * errors with `extensions.code`; anything else is masked. No graphql import here on purpose.
 */
export type ErrorCode =
  | 'BAD_USER_INPUT'
  | 'UPSTREAM_UNAUTHORIZED'
  | 'UPSTREAM_FORBIDDEN'
  | 'UPSTREAM_BAD_REQUEST'
  | 'UPSTREAM_RATE_LIMITED'
  | 'UPSTREAM_TIMEOUT'
  | 'UPSTREAM_UNAVAILABLE'
  | 'UPSTREAM_BAD_RESPONSE'
  | 'UPSTREAM_SCAN_LIMIT'
  // The request's upstream calls (src/plan.ts): refused before any call by its estimate, or past the cap while running.
  | 'UPSTREAM_CALL_LIMIT'
  | 'UNAUTHENTICATED'
  // The lead index (src/index/store.ts) is at LEADGRAPH_INDEX_MAX_LEADS: the tenant is served without it.
  | 'INDEX_FULL'
  // A query that needs the tenant's lead index (an order or filter the source cannot apply) before its first
  // sync completed, after LEADGRAPH_INDEX_WAIT_MS (`retryAfter`); or while the index is off or over its cap.
  | 'INDEX_NOT_READY'
  | 'INDEX_UNAVAILABLE'
  // Live subscriptions (src/schema/lead-changes.ts): LEADGRAPH_MAX_SUBSCRIPTIONS_PER_TENANT reached, or a subscriber that does not read.
  | 'SUBSCRIPTION_LIMIT'
  // Query limits (src/plugins/limits.ts): refused before anything runs upstream.
  | 'QUERY_TOO_DEEP'
  | 'QUERY_TOO_MANY_ALIASES'
  | 'QUERY_TOO_LARGE'
  | 'QUERY_TOO_COMPLEX'
  // A request a browser can send cross-site (form post, multipart, GET) without a script-only header (HTTP 403).
  | 'CSRF_HEADER_REQUIRED'
  // Trusted documents (src/plugins/persisted-documents.ts): an id no manifest holds; a document that is not trusted (HTTP 400).
  | 'PERSISTED_QUERY_NOT_FOUND'
  | 'PERSISTED_QUERY_ONLY';

export class DomainError extends Error {
  readonly code: ErrorCode;
  readonly extensions: Record<string, unknown>;

  constructor(code: ErrorCode, message: string, extensions: Record<string, unknown> = {}) {
    super(message);
    this.name = 'DomainError';
    this.code = code;
    // graphql-js copies these onto the GraphQL error it locates in the response.
    this.extensions = { code, ...extensions };
  }
}

export class BadUserInputError extends DomainError {
  constructor(message: string, argument?: string) {
    super('BAD_USER_INPUT', message, argument ? { argument } : {});
    this.name = 'BadUserInputError';
  }
}

export class UpstreamError extends DomainError {
  readonly status: number | undefined;

  /** The upstream answered an HTML page (a proxy's or a ban's), not its API's JSON. */
  readonly html: boolean;

  constructor(code: ErrorCode, message: string, details: { status?: number; endpoint: string; retryAfter?: number; html?: boolean }) {
    const extensions: Record<string, unknown> = { endpoint: details.endpoint };
    if (details.status !== undefined) extensions.upstreamStatus = details.status;
    if (details.retryAfter !== undefined) extensions.retryAfter = details.retryAfter;
    super(code, message, extensions);
    this.name = 'UpstreamError';
    this.status = details.status;
    this.html = details.html ?? false;
  }
}

/** The domain error behind an error, looking through GraphQL wrappers (of any graphql-js copy). */
export function findDomainError(error: unknown): DomainError | null {
  let current: unknown = error;
  for (let depth = 0; depth < 5 && current instanceof Error; depth += 1) {
    if (current instanceof DomainError) return current;
    current = (current as { originalError?: unknown }).originalError;
  }
  return null;
}
