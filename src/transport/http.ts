import { Agent, type Dispatcher, request, errors as undiciErrors } from 'undici';
import { UpstreamError } from '../errors.js';
import type { UpstreamCall } from './call.js';

/** What the source adapters call: GET JSON from the upstream. It knows HTTP, never what a Lead is. */
export interface JsonGetter {
  getJson<T>(request: UpstreamRequest<T>): Promise<T>;
}

export type UpstreamQuery = Readonly<Record<string, string | readonly string[]>>;

export interface UpstreamRequest<T = unknown> {
  /**
   * Turns the JSON body into what the adapter works with; the cache keeps the decoded value, so a
   * warm request does not parse rows again. It must depend only on the body and the request.
   * A decode that throws is a failed call (nothing cached).
   */
  readonly decode: (body: unknown) => T;
  /** Path under the base URL, e.g. `/v1/kommo/leads`; also the `endpoint` named in logs and errors. */
  readonly path: string;
  /** Query parameters; a list is sent as the parameter repeated (Kommo's `filter[id][]=1&filter[id][]=2`). */
  readonly query: UpstreamQuery;
  /**
   * Which cache TTL applies: lead pages change faster than the reference tables. `none`: never cached (the
   * lead index's reads: it keeps what they hold itself, and their pages would only crowd the cache).
   */
  readonly cacheClass: CacheClass | 'none';
  readonly signal?: AbortSignal | undefined;
}

/** The classes of upstream answers the caches keep, each with its TTL. */
export type CacheClass = 'leads' | 'reference';

/** The TTL of a call's class: 0 for one that is never cached. */
export const ttlOf = (ttlMs: Readonly<Record<CacheClass, number>>, cacheClass: CacheClass | 'none'): number =>
  cacheClass === 'none' ? 0 : ttlMs[cacheClass];

/** An undici Agent with explicit timeouts: undici's defaults (minutes) are far too long here. */
export function createUpstreamAgent(timeoutMs: number): Agent {
  return new Agent({
    connect: { timeout: timeoutMs },
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs,
    keepAliveTimeout: 10_000,
    connections: 32,
  });
}

/**
 * How one upstream's HTTP differs from plain HTTP, as data supplied by its source: the transport has
 * no such rule of its own.
 */
export interface ResponseRules {
  /** Statuses that answer "nothing" (e.g. a 204 empty list): the call's value is null, no body is parsed. */
  readonly emptyStatuses?: readonly number[];
  /** Seconds until a retry is welcome, read from an error response without a `Retry-After` header. */
  readonly retryAfter?: (status: number, text: string) => number | undefined;
}

export interface HttpCallOptions {
  readonly baseUrl: string;
  readonly dispatcher: Dispatcher;
  /** Headers and body timeout of one attempt (the connect timeout is the dispatcher's). */
  readonly timeoutMs: number;
  /** Display name of the upstream in error messages, e.g. "V4 API". */
  readonly upstreamName: string;
  readonly rules?: ResponseRules | undefined;
}

const MAX_ERROR_DETAIL = 300;

/**
 * The bottom of the stack: one GET with undici, answering the parsed JSON body, or an UpstreamError
 * with a stable code. Upstream text that goes into an error message has the tenant's secrets removed.
 */
export function httpCall(options: HttpCallOptions): UpstreamCall {
  const { upstreamName, rules } = options;
  const base = new URL(options.baseUrl);
  const basePath = base.pathname.replace(/\/+$/, '');
  const empty = new Set(rules?.emptyStatuses ?? []);
  return async (call) => {
    const endpoint = call.path;
    const url = new URL(base);
    url.pathname = basePath + call.path;
    for (const key of Object.keys(call.query).sort()) {
      for (const value of [call.query[key] ?? []].flat()) url.searchParams.append(key, value);
    }
    const redact = (text: string): string =>
      call.tenant.secrets.reduce((out, secret) => (secret ? out.split(secret).join('[redacted]') : out), text);
    try {
      const response = await request(url, {
        method: 'GET',
        dispatcher: options.dispatcher,
        headers: { accept: 'application/json', ...call.tenant.headers },
        headersTimeout: options.timeoutMs,
        bodyTimeout: options.timeoutMs,
        signal: call.signal,
      });
      const status = response.statusCode;
      const text = await response.body.text();
      if (empty.has(status)) return { value: null, status, received: { text: '', bytes: 0 } };
      if (status >= 200 && status < 300) {
        try {
          return { value: JSON.parse(text) as unknown, status, received: { text, bytes: Buffer.byteLength(text) } };
        } catch {
          throw new UpstreamError(
            'UPSTREAM_BAD_RESPONSE',
            `${upstreamName} GET ${endpoint} answered ${status} with a body that is not JSON`,
            {
              endpoint,
              status,
            },
          );
        }
      }
      const header = response.headers['retry-after'];
      const retryAfter = header !== undefined ? parseRetryAfter(header) : rules?.retryAfter?.(status, text);
      throw statusError(endpoint, status, retryAfter, redact(describeBody(text)), upstreamName);
    } catch (error) {
      if (error instanceof UpstreamError) throw error;
      throw networkError(endpoint, error, call.signal, upstreamName);
    }
  };
}

/**
 * The useful part of an error body: NestJS `message` (string or list), problem+json `detail` (with
 * Kommo's `validation-errors` paths and details), or text; an HTML page is named, not echoed.
 */
export function describeBody(text: string): string {
  let detail = text;
  try {
    const body = JSON.parse(text) as unknown;
    if (body && typeof body === 'object') {
      const record = body as Record<string, unknown>;
      const message = record.message ?? record.detail ?? record.title ?? record.error;
      if (Array.isArray(message)) detail = message.map(String).join('; ');
      else if (typeof message === 'string') detail = message;
      const validation = Array.isArray(record['validation-errors']) ? (record['validation-errors'] as unknown[]) : [];
      const problems = validation.flatMap((entry) => {
        const errors = (entry as { errors?: unknown }).errors;
        return Array.isArray(errors)
          ? errors.map(
              (error: { path?: unknown; detail?: unknown; code?: unknown }) =>
                `${String(error.path ?? '?')}: ${String(error.detail ?? error.code ?? 'invalid')}`,
            )
          : [];
      });
      if (problems.length > 0) detail = `${detail} (${problems.join('; ')})`;
    }
  } catch {
    if (/^\s*</.test(text)) detail = 'an HTML page';
  }
  detail = detail.replace(/\s+/g, ' ').trim();
  return detail.length > MAX_ERROR_DETAIL ? `${detail.slice(0, MAX_ERROR_DETAIL)}…` : detail;
}

function statusError(endpoint: string, status: number, retryAfter: number | undefined, detail: string, upstream: string): UpstreamError {
  const suffix = detail ? `: ${detail}` : '';
  if (status === 401) {
    return new UpstreamError('UPSTREAM_UNAUTHORIZED', `${upstream} rejected the credentials (401)${suffix}`, { endpoint, status });
  }
  if (status === 403) {
    const html = detail === 'an HTML page';
    return new UpstreamError('UPSTREAM_FORBIDDEN', `${upstream} refused access (403)${suffix}`, { endpoint, status, html });
  }
  if (status === 429) {
    return new UpstreamError('UPSTREAM_RATE_LIMITED', `${upstream} rate limit reached (429)${suffix}`, {
      endpoint,
      status,
      ...(retryAfter === undefined ? {} : { retryAfter }),
    });
  }
  if (status >= 500) {
    return new UpstreamError('UPSTREAM_UNAVAILABLE', `${upstream} failed (${status})${suffix}`, { endpoint, status });
  }
  return new UpstreamError('UPSTREAM_BAD_REQUEST', `${upstream} rejected the request (${status})${suffix}`, { endpoint, status });
}

/** `Retry-After` in seconds (delta or HTTP date); undefined when absent or unreadable. */
function parseRetryAfter(header: string | string[] | undefined, now = Date.now()): number | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  if (!value) return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim());
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, Math.ceil((date - now) / 1000));
}

function networkError(endpoint: string, error: unknown, signal: AbortSignal, upstream: string): UpstreamError {
  if (
    error instanceof undiciErrors.HeadersTimeoutError ||
    error instanceof undiciErrors.BodyTimeoutError ||
    error instanceof undiciErrors.ConnectTimeoutError
  ) {
    return new UpstreamError('UPSTREAM_TIMEOUT', `${upstream} did not answer in time`, { endpoint });
  }
  if (signal.aborted) return abortError(endpoint, signal, upstream);
  const code = (error as { code?: unknown } | null)?.code;
  const reason = typeof code === 'string' ? ` (${code})` : '';
  return new UpstreamError('UPSTREAM_UNAVAILABLE', `${upstream} could not be reached${reason}`, { endpoint });
}

/** Why a call stopped when its signal aborted: the request's deadline, or the client going away. */
export function abortError(endpoint: string, signal: AbortSignal, upstream: string): UpstreamError {
  const reason = signal.reason as { name?: string } | undefined;
  if (reason?.name === 'TimeoutError') {
    return new UpstreamError('UPSTREAM_TIMEOUT', `The request ran out of time (LEADGRAPH_REQUEST_TIMEOUT_MS) waiting for ${upstream}`, {
      endpoint,
    });
  }
  return new UpstreamError('UPSTREAM_UNAVAILABLE', `${upstream} call was cancelled because the request ended`, { endpoint });
}
