/**
 * The embedded demo upstream: a real HTTP server on loopback that speaks the V4 data API the way
 * the contract describes it (auth headers, required workspaceId, silent page/limit clamping, both
 * envelopes, single-valued filters, NestJS-style errors), over deterministic generated data. The
 * gateway runs on it when no V4 credentials are configured, and tests count its requests.
 */
import { randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type DemoData, type DemoDataOptions, generateDemoData, mulberry32, type V4Row } from './data.js';
import { answerKommo, type KommoAccount, kommoAccount, kommoProblem, writeKommo } from './kommo.js';

export type Envelope = 'meta' | 'pagination';

export interface DemoUpstreamOptions extends DemoDataOptions {
  /** Envelope per endpoint. Default: leads `pagination` (with totals), pipelines `meta`, users `pagination`. */
  readonly envelopes?: Partial<Record<'leads' | 'pipelines' | 'users', Envelope>>;
  /** Port on 127.0.0.1 (default 0: an ephemeral port). */
  readonly port?: number;
  /** Largest `limit` it applies, clamping larger ones silently (default 5000, as the V4 API). */
  readonly maxLimit?: number;
  /** Delay before every answer, in ms (default 0): a stand-in for a real upstream's round trip. */
  readonly latencyMs?: number;
}

/** A fault the demo injects into matching requests, for tests and benchmarks. */
export interface DemoFault {
  /** hang: never answers; error: a 5xx (`status`); rate-limit: 429 with Retry-After; bad-json: a 200 that is not JSON; html-403: an nginx-style HTML 403; slow: answers after `delayMs`. */
  readonly kind: 'hang' | 'error' | 'rate-limit' | 'bad-json' | 'html-403' | 'slow';
  /** Endpoints it applies to (`leads`, `pipelines`, `users`); all when omitted. */
  readonly endpoints?: readonly string[];
  /** Share of matching requests it hits, 0..1 (default 1), drawn from a seeded generator. */
  readonly probability?: number;
  /** Hit only the first N matching requests. */
  readonly times?: number;
  readonly status?: number;
  readonly retryAfterSeconds?: number;
  readonly delayMs?: number;
}

export interface DemoTenant {
  readonly clientId: string;
  readonly clientSecret: string;
  readonly workspaceId: string;
  /** The same account on the demo's Kommo API (`/api/v4/...`), as a bearer token. */
  readonly kommoToken: string;
  readonly data: DemoData;
}

export interface DemoRequest {
  readonly endpoint: string;
  readonly query: Readonly<Record<string, string>>;
  readonly status: number;
}

export interface DemoUpstream extends DemoTenant {
  readonly url: string;
  /** Every request received, in order. */
  readonly requests: DemoRequest[];
  /** Requests received for one endpoint (`leads`, `pipelines`, `users`), or all. */
  count(endpoint?: string): number;
  /** The most requests it was answering at once since the last reset. */
  readonly maxInFlight: number;
  reset(): void;
  setLatency(ms: number): void;
  /** Faults to inject from now on (replaces the previous ones; none to turn them off). */
  setFaults(faults: readonly DemoFault[]): void;
  /** Enforce a rate limit like the real APIs: over `limit` calls per credential in a rolling `windowMs` (default a minute) answer 429. */
  enforceRateLimit(limit: number | null, windowMs?: number): void;
  /** Kommo API: answer `GET /api/v4/users` with 403, as for a token without admin rights. */
  setKommoUsersForbidden(forbidden: boolean): void;
  /** Requests the enforced rate limit refused (a gateway that keeps its budget causes none). */
  readonly rateLimitViolations: number;
  /** Another account with its own credentials, workspace and data. */
  addTenant(options?: DemoDataOptions): DemoTenant;
  setEnvelope(endpoint: 'leads' | 'pipelines' | 'users', envelope: Envelope): void;
  close(): Promise<void>;
}

const MAX_LIMIT = 5000;
const DEFAULT_LIMIT = 500;

const LEAD_FILTERS: Readonly<Record<string, string>> = {
  leadId: 'lead_id',
  statusId: 'status_id',
  pipelineId: 'pipeline_id',
  responsibleUserId: 'responsible_user_id',
  groupId: 'group_id',
  lossReasonId: 'loss_reason_id',
  tagId: 'tag_id',
  tagName: 'tag_name',
  tagColor: 'tag_color',
  tagIdFirst: 'tag_id_first',
  tagNameFirst: 'tag_name_first',
  tagColorFirst: 'tag_color_first',
};
const PIPELINE_FILTERS: Readonly<Record<string, string>> = {
  pipelineId: 'pipeline_id',
  pipelineName: 'pipeline_name',
  statusId: 'status_id',
  statusName: 'status_name',
};
const USER_FILTERS: Readonly<Record<string, string>> = { userId: 'user_id' };

/** The name a request is counted under: `leads`, `pipelines`, `users` (V4) or `kommo:leads`, `kommo:pipelines`, `kommo:users`, `kommo:user`. */
function endpointOf(pathname: string): string {
  const path = pathname.replace(/\/$/, '');
  if (path.startsWith('/api/v4/')) {
    if (path === '/api/v4/leads/pipelines') return 'kommo:pipelines';
    if (/^\/api\/v4\/users\/\d+$/.test(path)) return 'kommo:user';
    return `kommo:${path.slice('/api/v4/'.length)}`;
  }
  return path.replace(/^\/v1\/kommo\//, '');
}

function sameSecret(given: string | string[] | undefined, expected: string): boolean {
  if (typeof given !== 'string') return false;
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** `limit` and `page` are clamped silently, as the real API does: limit 1..5000, page >= 1. */
function clampInt(raw: string | undefined, fallback: number, min: number, max: number): number {
  const value = raw === undefined || raw === '' ? Number.NaN : Math.trunc(Number(raw));
  return Number.isFinite(value) ? Math.min(max, Math.max(min, value)) : fallback;
}

function inTimeRange(value: unknown, start: string | undefined, end: string | undefined): boolean {
  if (start === undefined && end === undefined) return true;
  const time = typeof value === 'string' ? Date.parse(value) : Number.NaN;
  if (Number.isNaN(time)) return false;
  return (start === undefined || time >= Date.parse(start)) && (end === undefined || time <= Date.parse(end));
}

export async function startDemoUpstream(options: DemoUpstreamOptions = {}): Promise<DemoUpstream> {
  const tenants = new Map<string, DemoTenant & { tables: Record<'leads' | 'pipelines' | 'users', V4Row[]>; kommo: () => KommoAccount }>();
  const addTenant = (dataOptions: DemoDataOptions, clientId: string = randomUUID()): DemoTenant => {
    const data = generateDemoData(dataOptions);
    const workspaceId = randomUUID();
    const withWorkspace = (rows: readonly V4Row[]): V4Row[] => rows.map((row) => ({ ...row, workspace_id: workspaceId }));
    let account: KommoAccount | undefined;
    const tenant = {
      clientId,
      clientSecret: randomBytes(24).toString('hex'),
      workspaceId,
      kommoToken: randomBytes(32).toString('hex'),
      data,
      tables: { leads: withWorkspace(data.leadRows), pipelines: withWorkspace(data.pipelineRows), users: withWorkspace(data.userRows) },
      kommo: () => {
        account ??= kommoAccount(data);
        return account;
      },
    };
    tenants.set(clientId, tenant);
    return tenant;
  };
  const main = addTenant(options, '7c1f4a52-6d0e-4c8e-9a57-0f3f1d7f2c11');
  let faults: { fault: DemoFault; hits: number }[] = [];
  let rateLimit: number | null = null;
  let rateWindowMs = 60_000;
  let kommoUsersForbidden = false;
  const grants = new Map<string, number[]>();
  let rateLimitViolations = 0;
  const draw = mulberry32(options.seed ?? 42);
  const envelopes: Record<'leads' | 'pipelines' | 'users', Envelope> = {
    leads: 'pagination',
    pipelines: 'meta',
    users: 'pagination',
    ...options.envelopes,
  };
  const requests: DemoRequest[] = [];
  const maxLimit = options.maxLimit ?? MAX_LIMIT;

  const send = (response: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void => {
    const text = JSON.stringify(body);
    response.writeHead(status, {
      'content-type': 'application/json; charset=utf-8',
      'content-length': Buffer.byteLength(text),
      ...headers,
    });
    response.end(text);
  };
  const serialized = new WeakMap<V4Row, string>();
  const rowJson = (row: V4Row): string => {
    let json = serialized.get(row);
    if (json === undefined) {
      json = JSON.stringify(row);
      serialized.set(row, json);
    }
    return json;
  };
  const nestError = (response: ServerResponse, status: number, error: string, message: string | string[]): void =>
    send(response, status, { statusCode: status, message, error });

  /** Counts a call against the enforced rate limit; the seconds to wait when it is over, else null. */
  function overLimit(key: string): number | null {
    if (rateLimit === null) return null;
    const now = Date.now();
    const recent = (grants.get(key) ?? []).filter((time) => time > now - rateWindowMs);
    if (recent.length >= rateLimit) {
      rateLimitViolations += 1;
      return Math.max(1, Math.ceil(((recent[0] as number) + rateWindowMs - now) / 1000));
    }
    recent.push(now);
    grants.set(key, recent);
    return null;
  }

  /** The Kommo API v4 of the same accounts. */
  function handleKommo(request: IncomingMessage, response: ServerResponse, url: URL): number {
    if (request.method !== 'GET') {
      writeKommo(response, kommoProblem(405, 'Method Not Allowed', `${request.method} is not supported here`));
      return 405;
    }
    const token = /^Bearer (.+)$/.exec(request.headers.authorization ?? '')?.[1];
    const tenant = [...tenants.values()].find((candidate) => token !== undefined && sameSecret(token, candidate.kommoToken));
    if (!tenant) {
      writeKommo(response, kommoProblem(401, 'Unauthorized', 'Invalid or missing access token'));
      return 401;
    }
    const retryAfter = overLimit(`kommo:${tenant.clientId}`);
    if (retryAfter !== null) {
      // Kommo says when to come back in the body.
      writeKommo(response, {
        status: 429,
        contentType: 'application/problem+json',
        body: {
          title: 'Too Many Requests',
          type: 'https://httpstatus.es/429',
          status: 429,
          detail: 'Too many requests',
          retry_after: retryAfter,
        },
      });
      return 429;
    }
    const reply = answerKommo(tenant.kommo(), url.pathname.replace(/\/$/, ''), url.searchParams, { usersForbidden: kommoUsersForbidden });
    writeKommo(response, reply);
    return reply.status;
  }

  function handle(request: IncomingMessage, response: ServerResponse): number {
    const url = new URL(request.url ?? '/', 'http://demo.invalid');
    if (url.pathname.startsWith('/api/v4/')) return handleKommo(request, response, url);
    const match = /^\/v1\/kommo\/(leads|pipelines|users)\/?$/.exec(url.pathname);
    if (!match) {
      nestError(response, 404, 'Not Found', `Cannot ${request.method} ${url.pathname}`);
      return 404;
    }
    if (request.method !== 'GET') {
      nestError(response, 404, 'Not Found', `Cannot ${request.method} ${url.pathname}`);
      return 404;
    }
    const clientIdHeader = request.headers['x-client-id'];
    const tenant = typeof clientIdHeader === 'string' ? tenants.get(clientIdHeader) : undefined;
    if (!tenant || !sameSecret(request.headers['x-client-secret'], tenant.clientSecret)) {
      nestError(response, 401, 'Unauthorized', 'Invalid client credentials');
      return 401;
    }
    const retryAfter = overLimit(tenant.clientId);
    if (retryAfter !== null) {
      send(response, 429, { statusCode: 429, message: 'ThrottlerException: Too Many Requests' }, { 'retry-after': String(retryAfter) });
      return 429;
    }
    const query = Object.fromEntries(url.searchParams);
    if (!query.workspaceId) {
      nestError(response, 400, 'Bad Request', ['workspaceId should not be empty', 'workspaceId must be a UUID']);
      return 400;
    }
    if (query.workspaceId !== tenant.workspaceId) {
      nestError(response, 403, 'Forbidden', 'You do not have access to this workspace');
      return 403;
    }
    const endpoint = match[1] as 'leads' | 'pipelines' | 'users';
    const tables = tenant.tables;
    const filters = endpoint === 'leads' ? LEAD_FILTERS : endpoint === 'pipelines' ? PIPELINE_FILTERS : USER_FILTERS;
    // Only the filters actually given: an unfiltered page is a slice, as it would be for a real server.
    const active = Object.entries(filters).filter(([param]) => query[param] !== undefined);
    const timed =
      endpoint === 'leads' &&
      [query.createdStart, query.createdEnd, query.lastModifiedStart, query.lastModifiedEnd].some((value) => value !== undefined);
    let rows = tables[endpoint];
    if (active.length > 0) rows = rows.filter((row) => active.every(([param, column]) => String(row[column]) === query[param]));
    if (timed) {
      rows = rows.filter(
        (row) =>
          inTimeRange(row.created_at, query.createdStart, query.createdEnd) &&
          inTimeRange(row.updated_at, query.lastModifiedStart, query.lastModifiedEnd),
      );
    }
    const limit = clampInt(query.limit, Math.min(DEFAULT_LIMIT, maxLimit), 1, maxLimit);
    const page = clampInt(query.page, 1, 1, Number.MAX_SAFE_INTEGER);
    const slice = rows.slice((page - 1) * limit, page * limit);
    const totalPages = Math.max(1, Math.ceil(rows.length / limit));
    const hasNextPage = page * limit < rows.length;
    const hasPreviousPage = page > 1;
    const paging =
      envelopes[endpoint] === 'meta'
        ? { meta: { page, limit, hasNextPage, hasPreviousPage } }
        : { pagination: { currentPage: page, totalPages, totalRecords: rows.length, limit, hasNextPage, hasPreviousPage } };
    // Rows are serialized once and kept, as an API that caches its query results serves them.
    const text = `{"data":[${slice.map(rowJson).join(',')}],${JSON.stringify(paging).slice(1)}`;
    response.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
    response.end(text);
    return 200;
  }

  let latencyMs = options.latencyMs ?? 0;
  let inFlight = 0;
  let maxInFlight = 0;
  /** The fault that hits this request, if any. */
  const faultFor = (endpoint: string): DemoFault | null => {
    for (const entry of faults) {
      const { fault } = entry;
      if (fault.endpoints && !fault.endpoints.includes(endpoint)) continue;
      if (fault.times !== undefined && entry.hits >= fault.times) continue;
      if (draw() >= (fault.probability ?? 1)) continue;
      entry.hits += 1;
      return fault;
    }
    return null;
  };
  /** Answers with a fault instead of data; returns the status written, or 0 when it never answers. */
  const injure = (fault: DemoFault, response: ServerResponse): number => {
    switch (fault.kind) {
      case 'hang':
        return 0;
      case 'error': {
        const status = fault.status ?? 500;
        nestError(response, status, 'Internal Server Error', 'Internal server error');
        return status;
      }
      case 'rate-limit':
        send(
          response,
          429,
          { statusCode: 429, message: 'ThrottlerException: Too Many Requests' },
          { 'retry-after': String(fault.retryAfterSeconds ?? 1) },
        );
        return 429;
      case 'bad-json':
        response.writeHead(200, { 'content-type': 'application/json' }).end('{"data": [{"lead_id": "1", ');
        return 200;
      case 'html-403':
        response
          .writeHead(403, { 'content-type': 'text/html' })
          .end(
            '<html><head><title>403 Forbidden</title></head><body><center><h1>403 Forbidden</h1></center><hr><center>nginx</center></body></html>',
          );
        return 403;
      default:
        return -1;
    }
  };
  const answer = (request: IncomingMessage, response: ServerResponse): void => {
    const url = new URL(request.url ?? '/', 'http://demo.invalid');
    const endpoint = endpointOf(url.pathname);
    const fault = faultFor(endpoint);
    if (fault?.kind === 'slow') {
      setTimeout(() => {
        if (!response.destroyed) answerNow(request, response, null);
      }, fault.delayMs ?? 1000);
      return;
    }
    answerNow(request, response, fault);
  };
  const answerNow = (request: IncomingMessage, response: ServerResponse, fault: DemoFault | null): void => {
    const url = new URL(request.url ?? '/', 'http://demo.invalid');
    const injured = fault ? injure(fault, response) : -1;
    const status = injured >= 0 ? injured : handle(request, response);
    requests.push({
      endpoint: endpointOf(url.pathname),
      query: Object.fromEntries(url.searchParams),
      status,
    });
  };
  const server: Server = createServer((request, response) => {
    inFlight += 1;
    maxInFlight = Math.max(maxInFlight, inFlight);
    response.once('close', () => {
      inFlight -= 1;
    });
    if (latencyMs > 0) setTimeout(() => answer(request, response), latencyMs);
    else answer(request, response);
  });
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    clientId: main.clientId,
    clientSecret: main.clientSecret,
    workspaceId: main.workspaceId,
    kommoToken: main.kommoToken,
    data: main.data,
    requests,
    count: (endpoint) => (endpoint ? requests.filter((r) => r.endpoint === endpoint).length : requests.length),
    get maxInFlight() {
      return maxInFlight;
    },
    reset: () => {
      requests.length = 0;
      maxInFlight = inFlight;
      rateLimitViolations = 0;
    },
    setLatency: (ms) => {
      latencyMs = ms;
    },
    setFaults: (next) => {
      faults = next.map((fault) => ({ fault, hits: 0 }));
    },
    enforceRateLimit: (limit, windowMs = 60_000) => {
      rateLimit = limit;
      rateWindowMs = windowMs;
      grants.clear();
    },
    setKommoUsersForbidden: (forbidden) => {
      kommoUsersForbidden = forbidden;
    },
    get rateLimitViolations() {
      return rateLimitViolations;
    },
    addTenant: (dataOptions = {}) => {
      const { clientId, clientSecret, workspaceId, kommoToken, data } = addTenant(dataOptions);
      return { clientId, clientSecret, workspaceId, kommoToken, data };
    },
    setEnvelope: (endpoint, envelope) => {
      envelopes[endpoint] = envelope;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
