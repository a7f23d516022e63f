import type { Logger } from 'pino';
import { Agent, type Dispatcher, request, errors as undiciErrors } from 'undici';
import { UpstreamError } from '../errors.js';

/** The upstream transport: GET JSON over undici. It knows HTTP, never what a Lead is. */
export interface JsonGetter {
  getJson(request: UpstreamRequest): Promise<unknown>;
}

export interface UpstreamRequest {
  /** Path under the base URL, e.g. `/v1/kommo/leads`; also the `endpoint` named in logs and errors. */
  readonly path: string;
  readonly query: Readonly<Record<string, string>>;
  readonly signal?: AbortSignal | undefined;
}

export interface HttpTransportOptions {
  readonly baseUrl: string;
  /** Headers sent on every call (credentials); their values never reach logs or errors. */
  readonly headers: Readonly<Record<string, string>>;
  readonly dispatcher: Dispatcher;
  /** Headers and body timeout of each call, in ms. */
  readonly timeoutMs: number;
  /** Strings that must never appear in an error message (secrets, ids). */
  readonly secrets: readonly string[];
  /** Display name of the upstream in error messages, e.g. "V4 API". */
  readonly upstreamName: string;
  readonly logger?: Logger | undefined;
  /** Called after every upstream call; tests and metrics count with it. */
  readonly onCall?: ((call: { endpoint: string; status: number; durationMs: number }) => void) | undefined;
}

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

const MAX_ERROR_DETAIL = 300;

export function createHttpTransport(options: HttpTransportOptions): JsonGetter {
  const base = new URL(options.baseUrl);
  const basePath = base.pathname.replace(/\/+$/, '');
  const redact = (text: string): string =>
    options.secrets.reduce((out, secret) => (secret ? out.split(secret).join('[redacted]') : out), text);
  const upstream = options.upstreamName;

  return {
    async getJson({ path, query, signal }) {
      const url = new URL(base);
      url.pathname = basePath + path;
      for (const [key, value] of Object.entries(query)) url.searchParams.set(key, value);
      const started = performance.now();
      let status = 0;
      try {
        const response = await request(url, {
          method: 'GET',
          dispatcher: options.dispatcher,
          headers: { accept: 'application/json', ...options.headers },
          headersTimeout: options.timeoutMs,
          bodyTimeout: options.timeoutMs,
          signal,
        });
        status = response.statusCode;
        const text = await response.body.text();
        if (status >= 200 && status < 300) {
          try {
            return JSON.parse(text) as unknown;
          } catch {
            throw new UpstreamError('UPSTREAM_BAD_RESPONSE', `${upstream} GET ${path} answered ${status} with a body that is not JSON`, {
              endpoint: path,
              status,
            });
          }
        }
        throw statusError(path, status, response.headers['retry-after'], redact(describeBody(text)), upstream);
      } catch (error) {
        if (error instanceof UpstreamError) throw error;
        throw networkError(path, error, signal, upstream);
      } finally {
        const durationMs = Math.round((performance.now() - started) * 10) / 10;
        options.logger?.debug({ endpoint: path, status, durationMs }, 'upstream call');
        options.onCall?.({ endpoint: path, status, durationMs });
      }
    },
  };
}

/** The useful part of an error body: NestJS `message` (string or list), problem+json `detail`, or text. */
function describeBody(text: string): string {
  let detail = text;
  try {
    const body = JSON.parse(text) as unknown;
    if (body && typeof body === 'object') {
      const record = body as Record<string, unknown>;
      const message = record.message ?? record.detail ?? record.title ?? record.error;
      if (Array.isArray(message)) detail = message.map(String).join('; ');
      else if (typeof message === 'string') detail = message;
    }
  } catch {
    if (/^\s*</.test(text)) detail = 'an HTML page';
  }
  detail = detail.replace(/\s+/g, ' ').trim();
  return detail.length > MAX_ERROR_DETAIL ? `${detail.slice(0, MAX_ERROR_DETAIL)}…` : detail;
}

function statusError(
  endpoint: string,
  status: number,
  retryAfterHeader: string | string[] | undefined,
  detail: string,
  upstream: string,
): UpstreamError {
  const suffix = detail ? `: ${detail}` : '';
  if (status === 401) {
    return new UpstreamError('UPSTREAM_UNAUTHORIZED', `${upstream} rejected the credentials (401)${suffix}`, { endpoint, status });
  }
  if (status === 403) {
    return new UpstreamError('UPSTREAM_FORBIDDEN', `${upstream} refused access (403)${suffix}`, { endpoint, status });
  }
  if (status === 429) {
    const retryAfter = parseRetryAfter(retryAfterHeader);
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
export function parseRetryAfter(header: string | string[] | undefined, now = Date.now()): number | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  if (!value) return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim());
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, Math.ceil((date - now) / 1000));
}

function networkError(endpoint: string, error: unknown, signal: AbortSignal | undefined, upstream: string): UpstreamError {
  if (
    error instanceof undiciErrors.HeadersTimeoutError ||
    error instanceof undiciErrors.BodyTimeoutError ||
    error instanceof undiciErrors.ConnectTimeoutError
  ) {
    return new UpstreamError('UPSTREAM_TIMEOUT', `${upstream} did not answer in time`, { endpoint });
  }
  if (signal?.aborted) {
    return new UpstreamError('UPSTREAM_UNAVAILABLE', `${upstream} call was cancelled because the request ended`, { endpoint });
  }
  const code = (error as { code?: unknown } | null)?.code;
  const reason = typeof code === 'string' ? ` (${code})` : '';
  return new UpstreamError('UPSTREAM_UNAVAILABLE', `${upstream} could not be reached${reason}`, { endpoint });
}
