/**
 * The embedded demo upstream: a real HTTP server on loopback that speaks the V4 data API the way the
 * contract describes it (auth headers, required workspaceId, silent page/limit clamping, both
 * envelopes, single-valued filters, NestJS-style errors) and Kommo's API v4 (bearer token, HAL,
 * problem+json) for the same accounts, over deterministic generated data. The gateway runs on it when
 * no credentials are configured. It is a clean upstream: the test upstream (test/support/) builds its
 * fault injection and request counting on `createDemoHandler`.
 */
import { randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type RequestListener, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type DemoAccount, type DemoDataOptions, generateDemoAccount } from './data.js';
import { answerKommo, kommoProblem, writeKommo } from './kommo.js';
import { answerV4, type Envelope, type V4Endpoint, type V4Tables, v4Tables } from './v4.js';

/** One demo account with its credentials on both APIs. */
export interface DemoTenant {
  readonly clientId: string;
  readonly clientSecret: string;
  readonly workspaceId: string;
  /** The same account on the Kommo API (`/api/v4/...`), as a bearer token. */
  readonly kommoToken: string;
  readonly account: DemoAccount;
  /** The account as the V4 warehouse's rows for this workspace. */
  readonly v4: V4Tables;
}

/** A new account with random credentials (`clientId` too, unless given). */
export function createDemoTenant(options: DemoDataOptions = {}, clientId: string = randomUUID()): DemoTenant {
  const account = generateDemoAccount(options);
  const workspaceId = randomUUID();
  return {
    clientId,
    clientSecret: randomBytes(24).toString('hex'),
    workspaceId,
    kommoToken: randomBytes(32).toString('hex'),
    account,
    v4: v4Tables(account, workspaceId),
  };
}

export interface DemoHandlerOptions {
  /** The accounts served; read on every request, so accounts added to the array later are served too. */
  readonly tenants: readonly DemoTenant[];
  /**
   * V4 envelope per endpoint, read on every request.
   * @default leads `pagination` (with totals), pipelines `meta`, users `pagination`
   */
  readonly envelopes?: Readonly<Partial<Record<V4Endpoint, Envelope>>>;
  /**
   * Largest V4 `limit` applied; larger ones are clamped silently.
   * @default 5000 (as the V4 API)
   */
  readonly maxLimit?: number;
}

export interface DemoHandler {
  /** Answers one request on either API; returns the status it wrote. */
  handle(request: IncomingMessage, response: ServerResponse): number;
  /** The account a request's credentials name (V4 headers or a Kommo bearer token), null when none does. */
  tenantOf(request: IncomingMessage): DemoTenant | null;
}

const DEFAULT_ENVELOPES: Readonly<Record<V4Endpoint, Envelope>> = { leads: 'pagination', pipelines: 'meta', users: 'pagination' };

export const isKommoPath = (pathname: string): boolean => pathname.startsWith('/api/v4/');

function sameSecret(given: string | string[] | undefined, expected: string): boolean {
  if (typeof given !== 'string') return false;
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Writes a JSON body with its length: the V4 API's NestJS-style errors (`{statusCode, message, error}`). */
export function sendJson(response: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  response.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), ...headers });
  response.end(text);
}

export function createDemoHandler(options: DemoHandlerOptions): DemoHandler {
  const { tenants } = options;
  const maxLimit = options.maxLimit ?? 5000;
  // Rows are serialized once and kept, as an API that caches its query results serves them.
  const serialized = new WeakMap<object, string>();
  const rowJson = (row: object): string => {
    let json = serialized.get(row);
    if (json === undefined) {
      json = JSON.stringify(row);
      serialized.set(row, json);
    }
    return json;
  };
  const nestError = (response: ServerResponse, status: number, error: string, message: string | string[]): number => {
    sendJson(response, status, { statusCode: status, message, error });
    return status;
  };

  function tenantOf(request: IncomingMessage): DemoTenant | null {
    const url = new URL(request.url ?? '/', 'http://demo.invalid');
    if (isKommoPath(url.pathname)) {
      const token = /^Bearer (.+)$/.exec(request.headers.authorization ?? '')?.[1];
      return token === undefined ? null : (tenants.find((tenant) => sameSecret(token, tenant.kommoToken)) ?? null);
    }
    const clientId = request.headers['x-client-id'];
    const tenant = tenants.find((candidate) => candidate.clientId === clientId);
    return tenant && sameSecret(request.headers['x-client-secret'], tenant.clientSecret) ? tenant : null;
  }

  function handleKommo(request: IncomingMessage, response: ServerResponse, url: URL): number {
    const fail = (status: number, title: string, detail: string): number => {
      writeKommo(response, kommoProblem(status, title, detail));
      return status;
    };
    if (request.method !== 'GET') return fail(405, 'Method Not Allowed', `${request.method} is not supported here`);
    const tenant = tenantOf(request);
    if (!tenant) return fail(401, 'Unauthorized', 'Invalid or missing access token');
    const reply = answerKommo(tenant.account, url.pathname.replace(/\/$/, ''), url.searchParams);
    writeKommo(response, reply);
    return reply.status;
  }

  function handle(request: IncomingMessage, response: ServerResponse): number {
    const url = new URL(request.url ?? '/', 'http://demo.invalid');
    if (isKommoPath(url.pathname)) return handleKommo(request, response, url);
    const match = /^\/v1\/kommo\/(leads|pipelines|users)\/?$/.exec(url.pathname);
    if (!match || request.method !== 'GET') return nestError(response, 404, 'Not Found', `Cannot ${request.method} ${url.pathname}`);
    const tenant = tenantOf(request);
    if (!tenant) return nestError(response, 401, 'Unauthorized', 'Invalid client credentials');
    const query = Object.fromEntries(url.searchParams);
    if (!query.workspaceId) {
      return nestError(response, 400, 'Bad Request', ['workspaceId should not be empty', 'workspaceId must be a UUID']);
    }
    if (query.workspaceId !== tenant.workspaceId) return nestError(response, 403, 'Forbidden', 'You do not have access to this workspace');
    const endpoint = match[1] as V4Endpoint;
    const envelope = options.envelopes?.[endpoint] ?? DEFAULT_ENVELOPES[endpoint];
    const { rows, paging } = answerV4(tenant.v4, endpoint, query, { envelope, maxLimit });
    const text = `{"data":[${rows.map(rowJson).join(',')}],${JSON.stringify(paging).slice(1)}`;
    response.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
    response.end(text);
    return 200;
  }

  return { handle, tenantOf };
}

export interface LoopbackServer {
  readonly url: string;
  close(): Promise<void>;
}

/** Listens on 127.0.0.1 (`port` 0: an ephemeral one); `close` also ends kept-alive connections. */
export async function listenOnLoopback(listener: RequestListener, port = 0): Promise<LoopbackServer> {
  const server = createServer(listener);
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export interface DemoUpstreamOptions extends DemoDataOptions, Omit<DemoHandlerOptions, 'tenants'> {
  /** Port on 127.0.0.1 (default 0: an ephemeral port). */
  readonly port?: number;
}

export interface DemoUpstream extends Omit<DemoTenant, 'v4'>, LoopbackServer {}

/** The main demo account has a fixed client id, so a V4 client id can be written down; its secrets are new on every start. */
const DEMO_CLIENT_ID = '7c1f4a52-6d0e-4c8e-9a57-0f3f1d7f2c11';

export async function startDemoUpstream(options: DemoUpstreamOptions = {}): Promise<DemoUpstream> {
  const tenant = createDemoTenant(options, DEMO_CLIENT_ID);
  const { handle } = createDemoHandler({ ...options, tenants: [tenant] });
  const server = await listenOnLoopback((request, response) => {
    handle(request, response);
  }, options.port);
  const { clientId, clientSecret, workspaceId, kommoToken, account } = tenant;
  return { url: server.url, close: server.close, clientId, clientSecret, workspaceId, kommoToken, account };
}
