/**
 * What browsers may do with the gateway. CORS: no `Access-Control-Allow-Origin` for any origin
 * unless listed (exact origins); with the embedded demo, any `http://localhost:<port>` and
 * `http://127.0.0.1:<port>` too, so a frontend in development works out of the box. DNS rebinding:
 * a gateway listening on loopback answers only requests whose `Host` is a loopback name or listed;
 * a hostile page whose name resolves to 127.0.0.1 is same-origin to itself, so CORS alone cannot stop it.
 */
import { useCSRFPrevention } from '@graphql-yoga/plugin-csrf-prevention';
import { GraphQLError } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import type { ErrorCode } from '../errors.js';

export interface BrowserPolicy {
  /** `LEADGRAPH_CORS_ORIGINS`: origins allowed to read responses (exact `scheme://host[:port]`). */
  readonly corsOrigins: readonly string[];
  /** With the embedded demo: local development origins on any port are allowed as well. */
  readonly allowLocalOrigins: boolean;
  /** `LEADGRAPH_ALLOWED_HOSTS`: host names accepted besides loopback ones; null when not listening on loopback (no check). */
  readonly allowedHosts: readonly string[] | null;
}

const LOCAL_ORIGIN = /^http:\/\/(?:localhost|127\.0\.0\.1|\[::1\]):\d{1,5}$/;
const LOOPBACK_HOST = /^(?:localhost|127(?:\.\d{1,3}){3}|\[::1\])$/i;

/** Headers a listed origin may send: content negotiation, the request id, the client name, the CSRF header, a revalidation, multi-tenant credentials. */
const ALLOWED_HEADERS = [
  'accept',
  'content-type',
  'x-request-id',
  'apollographql-client-name',
  'apollographql-client-version',
  'graphql-client-name',
  'x-graphql-yoga-csrf',
  'if-none-match',
  'x-leadgraph-any-document',
  'x-client-id',
  'x-client-secret',
  'x-workspace-id',
];

/** Whether pages of an origin may read answers: a listed origin, or a local one with the embedded demo (CORS, WebSockets). */
export function originAllowed(policy: BrowserPolicy): (origin: string) => boolean {
  const listed = new Set(policy.corsOrigins);
  return (origin) => listed.has(origin) || (policy.allowLocalOrigins && LOCAL_ORIGIN.test(origin));
}

/** Yoga's `cors` factory: CORS headers for an allowed origin, none for any other. */
export function corsFor(policy: BrowserPolicy) {
  const allowed = originAllowed(policy);
  return (request: Request) => {
    const origin = request.headers.get('origin');
    if (!origin || !allowed(origin)) return false;
    return {
      origin: [origin],
      credentials: true,
      methods: ['GET', 'POST'],
      allowedHeaders: ALLOWED_HEADERS,
      // The ETag too: a client that keeps answers itself revalidates with it.
      exposedHeaders: ['x-request-id', 'etag'],
      maxAge: 600,
    };
  };
}

/**
 * The host name of a `Host` header (without its port), lower-cased; null when no URL can be built from
 * it (Yoga would answer that with a 500 and a stack trace); undefined for none (HTTP/1.0).
 */
function hostName(header: string | undefined): string | null | undefined {
  if (header === undefined) return undefined;
  const match = /^(\[[0-9a-f:.]+\]|[a-z0-9.-]+)(?::(\d{1,5}))?$/i.exec(header.trim());
  if (!match?.[1] || (match[2] !== undefined && Number(match[2]) > 65535)) return null;
  try {
    new URL(`http://${header.trim()}/`);
  } catch {
    return null; // e.g. 999.1.1.1, [::::]
  }
  return match[1].toLowerCase();
}

type HostRefusal = { readonly status: number; readonly body: string } | null;

/**
 * Why a request's `Host` is refused, as a plain-text answer, or null; checked where the gateway listens
 * (server.ts). Clients send the same Host on every request: the last verdict is kept.
 */
export function hostRefusals(policy: BrowserPolicy): (header: string | undefined) => HostRefusal {
  const { allowedHosts } = policy;
  let last: { header: string | undefined; refusal: HostRefusal } | null = null;
  const judge = (header: string | undefined): HostRefusal => {
    const name = hostName(header);
    if (name === null) return { status: 400, body: 'Bad Request: malformed Host header\n' };
    if (allowedHosts === null || name === undefined || LOOPBACK_HOST.test(name) || allowedHosts.includes(name)) return null;
    return {
      status: 403,
      body: 'Forbidden: this gateway listens on loopback and answers only requests to a loopback host name or one in LEADGRAPH_ALLOWED_HOSTS\n',
    };
  };
  return (header) => {
    if (last === null || last.header !== header) last = { header, refusal: judge(header) };
    return last.refusal;
  };
}

/** Headers that prove a script sent the request (any of them forces a CORS preflight); Apollo's two are accepted too. */
export const CSRF_HEADERS = ['x-graphql-yoga-csrf', 'apollo-require-preflight', 'x-apollo-operation-name'];

/**
 * Yoga's CSRF prevention, for the methods a browser can send cross-site without a preflight (GET and
 * POST): one without a preflighted content type (JSON is) must carry a CSRF header. Other methods get
 * Yoga's own 405 first; a browser cannot send them cross-site without a preflight anyway.
 */
export function useCsrfPrevention(): Plugin {
  const prevention = useCSRFPrevention({ requestHeaders: CSRF_HEADERS });
  return {
    onRequestParse: (payload) => {
      if (payload.request.method !== 'GET' && payload.request.method !== 'POST') return undefined;
      try {
        return prevention.onRequestParse?.(payload);
      } catch (error) {
        // The plugin refuses without a code or a hint: both are stable here.
        if (error instanceof GraphQLError)
          Object.assign(error.extensions, { code: 'CSRF_HEADER_REQUIRED' satisfies ErrorCode, acceptedHeaders: CSRF_HEADERS });
        throw error;
      }
    },
  };
}

/** True for an address the gateway listens on that only this machine can reach. */
export function isLoopbackAddress(host: string): boolean {
  return /^(?:localhost|127(?:\.\d{1,3}){3}|::1|\[::1\])$/i.test(host.trim());
}
