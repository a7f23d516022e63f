/**
 * The test upstream: the demo upstream's own request handler (src/demo/server.ts), wrapped in
 * everything tests and the benchmark need and production must not ship: a request log, latency,
 * injected faults, an enforced rate limit, a Kommo token without admin rights, extra tenants and
 * envelope switching, and data that moves under the gateway (test/support/moving-tenant.ts).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { type DemoAccount, type DemoDataOptions, mulberry32 } from '../../src/demo/data.js';
import { kommoProblem, writeKommo } from '../../src/demo/kommo.js';
import {
  createDemoHandler,
  createDemoTenant,
  type DemoTenant,
  type DemoUpstreamOptions,
  isKommoPath,
  listenOnLoopback,
  sendJson,
} from '../../src/demo/server.js';
import type { Envelope, V4Endpoint, V4Tables } from '../../src/demo/v4.js';
import { createRateLimiter, type RateLimiter } from '../../src/transport/limiter.js';
import { type LeadMutations, type MovingTenant, movingTenant } from './moving-tenant.js';

export interface TestUpstreamOptions extends DemoUpstreamOptions {
  /** Delay before every answer, in ms (default 0): a stand-in for a real upstream's round trip. */
  readonly latencyMs?: number;
}

/** A fault injected into matching requests, instead of (or, for `slow`, before) the demo's answer. */
export interface InjectedFault {
  /** hang: never answers; error: a 5xx (`status`); rate-limit: 429 with Retry-After; bad-json: a 200 that is not JSON; html-403: an nginx-style HTML 403; slow: answers after `delayMs`. */
  readonly kind: 'hang' | 'error' | 'rate-limit' | 'bad-json' | 'html-403' | 'slow';
  /** Endpoints it applies to (as counted, e.g. `leads`, `kommo:leads`); all when omitted. */
  readonly endpoints?: readonly string[];
  /** Share of matching requests it hits, 0..1 (default 1), drawn from a seeded generator. */
  readonly probability?: number;
  /** Hit only the first N matching requests. */
  readonly times?: number;
  readonly status?: number;
  readonly retryAfterSeconds?: number;
  /** slow: the delay before the normal answer; error, rate-limit, bad-json, html-403: before the fault's answer (a slow failure). */
  readonly delayMs?: number;
}

/**
 * One account on both APIs, and the mutations that move its data (`LeadMutations`). `data`, `account`
 * and `v4Account` are getters that show the state at the time they are read: read them after a
 * mutation, do not keep them from before (a destructured `const { data } = upstream` is a snapshot).
 */
export interface TestTenant extends LeadMutations {
  readonly clientId: string;
  readonly clientSecret: string;
  readonly workspaceId: string;
  /** The same account on the Kommo API (`/api/v4/...`), as a bearer token. */
  readonly kommoToken: string;
  /** The rows the V4 API serves for this account now (while loads are held, those of the last load): what a correct gateway's answers are computed from. */
  readonly data: V4Tables;
  /** The account as it is now: what the Kommo API serves (deleted leads only under `with=only_deleted`). */
  readonly account: DemoAccount;
  /** The account as the V4 API serves it now: `account` without the changes `holdV4Loads` holds back. */
  readonly v4Account: DemoAccount;
}

export interface TestRequest {
  readonly endpoint: string;
  readonly query: Readonly<Record<string, string>>;
  /** The status answered; 0 when it never answered (a hang). */
  readonly status: number;
  /** When it arrived (Date.now(), before any latency): when the gateway sent it. */
  readonly at: number;
}

/** A request whose client closed the connection before it was answered: the gateway cancelled it (or gave up on it). */
export interface CancelledRequest {
  readonly endpoint: string;
  readonly query: Readonly<Record<string, string>>;
  /** When it arrived and when its client went away (Date.now). */
  readonly arrivedAt: number;
  readonly closedAt: number;
}

export interface TestUpstream extends TestTenant {
  readonly url: string;
  /** Every request answered, in order. */
  readonly requests: TestRequest[];
  /** Requests for one endpoint (`leads`, `pipelines`, `users`, `kommo:leads`, `kommo:pipelines`, `kommo:users`, `kommo:user`), or all. */
  count(endpoint?: string): number;
  /** The most requests it was answering at once since the last reset. */
  readonly maxInFlight: number;
  /** Requests it is answering (or hanging on) right now. */
  readonly inFlight: number;
  /** Requests whose client went away before their answer was written, in the order they went. */
  readonly cancelled: CancelledRequest[];
  /** Clears the request log, the cancelled log, `maxInFlight` and `rateLimitViolations`. */
  reset(): void;
  setLatency(ms: number): void;
  /** Faults to inject from now on (replaces the previous ones; none to turn them off). */
  setFaults(faults: readonly InjectedFault[]): void;
  /** Enforce a rate limit like the real APIs: over `limit` calls per credential in a rolling `windowMs` (default a minute) answer 429; null turns it off. */
  enforceRateLimit(limit: number | null, windowMs?: number): void;
  /** Requests the enforced rate limit refused (a gateway that keeps its budget causes none). */
  readonly rateLimitViolations: number;
  /** Kommo API: answer `GET /api/v4/users` with 403, as for a token without admin rights. */
  setKommoUsersForbidden(forbidden: boolean): void;
  /** Another account with its own credentials, workspace and data. */
  addTenant(options?: DemoDataOptions): TestTenant;
  setEnvelope(endpoint: V4Endpoint, envelope: Envelope): void;
  close(): Promise<void>;
}

/** The name a request is counted under: `leads`, `pipelines`, `users` (V4) or `kommo:leads`, `kommo:pipelines`, `kommo:users`, `kommo:user`. */
function endpointOf(pathname: string): string {
  const path = pathname.replace(/\/$/, '');
  if (isKommoPath(path)) {
    if (path === '/api/v4/leads/pipelines') return 'kommo:pipelines';
    if (/^\/api\/v4\/users\/\d+$/.test(path)) return 'kommo:user';
    return `kommo:${path.slice('/api/v4/'.length)}`;
  }
  return path.replace(/^\/v1\/kommo\//, '');
}

const testTenant = (tenant: MovingTenant): TestTenant => ({
  clientId: tenant.clientId,
  clientSecret: tenant.clientSecret,
  workspaceId: tenant.workspaceId,
  kommoToken: tenant.kommoToken,
  get data() {
    return tenant.v4;
  },
  get account() {
    return tenant.account;
  },
  get v4Account() {
    return tenant.v4Account;
  },
  insertLead: tenant.insertLead,
  updateLead: tenant.updateLead,
  deleteLead: tenant.deleteLead,
  vanishLead: tenant.vanishLead,
  setClockSkew: tenant.setClockSkew,
  now: tenant.now,
  holdV4Loads: tenant.holdV4Loads,
  loadV4: tenant.loadV4,
});

/** What the limiter refuses with carries the seconds until a slot frees. */
const retryAfterOf = (error: unknown, windowMs: number): number => {
  const seconds = (error as { retryAfterSeconds?: unknown } | null)?.retryAfterSeconds;
  return typeof seconds === 'number' ? seconds : Math.ceil(windowMs / 1000);
};

/** The V4 API's 429: NestJS's throttler body, the wait in Retry-After. */
const v4Throttled = (response: ServerResponse, retryAfterSeconds: number): void =>
  sendJson(
    response,
    429,
    { statusCode: 429, message: 'ThrottlerException: Too Many Requests' },
    { 'retry-after': String(retryAfterSeconds) },
  );

export async function startTestUpstream(options: TestUpstreamOptions = {}): Promise<TestUpstream> {
  const main = movingTenant(createDemoTenant(options));
  const tenants: DemoTenant[] = [main];
  const envelopes: Partial<Record<V4Endpoint, Envelope>> = { ...options.envelopes };
  const demo = createDemoHandler({ tenants, envelopes, maxLimit: options.maxLimit });
  const requests: TestRequest[] = [];
  const cancelled: CancelledRequest[] = [];
  const draw = mulberry32(options.seed ?? 42);
  let faults: { fault: InjectedFault; hits: number }[] = [];
  let limiter: { limiter: RateLimiter; windowMs: number } | null = null;
  let rateLimitViolations = 0;
  let kommoUsersForbidden = false;
  let latencyMs = options.latencyMs ?? 0;
  let inFlight = 0;
  let maxInFlight = 0;

  const faultFor = (endpoint: string): InjectedFault | null => {
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

  /** Answers with a fault instead of data; returns the status written, 0 when it never answers. */
  const injure = (fault: InjectedFault, response: ServerResponse): number => {
    switch (fault.kind) {
      case 'hang':
        return 0;
      case 'rate-limit':
        v4Throttled(response, fault.retryAfterSeconds ?? 1);
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
      default: {
        // 'error' ('slow' never gets here: it answers normally, later).
        const status = fault.status ?? 500;
        sendJson(response, status, { statusCode: status, message: 'Internal server error', error: 'Internal Server Error' });
        return status;
      }
    }
  };

  /** The demo's answer, behind the enforced rate limit and the users-403 switch (both after authentication, as upstream). */
  const answer = async (request: IncomingMessage, response: ServerResponse, url: URL, endpoint: string): Promise<number> => {
    const tenant = demo.tenantOf(request);
    const kommo = isKommoPath(url.pathname);
    if (tenant && limiter) {
      const { windowMs } = limiter;
      try {
        await limiter.limiter.acquire(`${kommo ? 'kommo' : 'v4'}:${tenant.clientId}`);
      } catch (error) {
        rateLimitViolations += 1;
        const retryAfter = retryAfterOf(error, windowMs);
        // Kommo says when to come back in the body, the V4 API in a header.
        if (kommo) writeKommo(response, kommoProblem(429, 'Too Many Requests', 'Too many requests', { retry_after: retryAfter }));
        else v4Throttled(response, retryAfter);
        return 429;
      }
    }
    if (tenant && kommoUsersForbidden && endpoint === 'kommo:users') {
      writeKommo(response, kommoProblem(403, 'Forbidden', 'Access denied: the user is not an administrator'));
      return 403;
    }
    return demo.handle(request, response);
  };

  const respond = async (
    request: IncomingMessage,
    response: ServerResponse,
    url: URL,
    fault: InjectedFault | null,
    at: number,
  ): Promise<void> => {
    const endpoint = endpointOf(url.pathname);
    const status = fault ? injure(fault, response) : await answer(request, response, url, endpoint);
    requests.push({ endpoint, query: Object.fromEntries(url.searchParams), status, at });
  };

  const start = (request: IncomingMessage, response: ServerResponse, at: number): void => {
    const url = new URL(request.url ?? '/', 'http://test.invalid');
    const fault = faultFor(endpointOf(url.pathname));
    if (fault?.kind === 'slow') {
      setTimeout(() => {
        if (!response.destroyed) void respond(request, response, url, null, at);
      }, fault.delayMs ?? 1000);
      return;
    }
    if (fault && fault.kind !== 'hang' && fault.delayMs !== undefined) {
      setTimeout(() => {
        if (!response.destroyed) void respond(request, response, url, fault, at);
      }, fault.delayMs);
      return;
    }
    void respond(request, response, url, fault, at);
  };

  const server = await listenOnLoopback((request, response) => {
    inFlight += 1;
    maxInFlight = Math.max(maxInFlight, inFlight);
    const arrivedAt = Date.now();
    response.once('close', () => {
      inFlight -= 1;
      // Closed before end() was called: the client went away first (or the test upstream closed).
      if (!response.writableEnded) {
        const url = new URL(request.url ?? '/', 'http://test.invalid');
        cancelled.push({
          endpoint: endpointOf(url.pathname),
          query: Object.fromEntries(url.searchParams),
          arrivedAt,
          closedAt: Date.now(),
        });
      }
    });
    const at = Date.now();
    if (latencyMs > 0) setTimeout(() => start(request, response, at), latencyMs);
    else start(request, response, at);
  }, options.port);

  const mainTenant = testTenant(main);
  return {
    // The spread copies the getters' values: they are defined again below, as getters.
    ...mainTenant,
    get data() {
      return mainTenant.data;
    },
    get account() {
      return mainTenant.account;
    },
    get v4Account() {
      return mainTenant.v4Account;
    },
    url: server.url,
    requests,
    count: (endpoint) => (endpoint ? requests.filter((request) => request.endpoint === endpoint).length : requests.length),
    get maxInFlight() {
      return maxInFlight;
    },
    get inFlight() {
      return inFlight;
    },
    cancelled,
    reset: () => {
      requests.length = 0;
      cancelled.length = 0;
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
      // maxWaitMs 0: the upstream refuses a call over its limit, it never queues it.
      limiter = limit === null ? null : { limiter: createRateLimiter({ limit, windowMs, maxWaitMs: 0 }), windowMs };
    },
    get rateLimitViolations() {
      return rateLimitViolations;
    },
    setKommoUsersForbidden: (forbidden) => {
      kommoUsersForbidden = forbidden;
    },
    addTenant: (dataOptions = {}) => {
      const tenant = movingTenant(createDemoTenant(dataOptions));
      tenants.push(tenant);
      return testTenant(tenant);
    },
    setEnvelope: (endpoint, envelope) => {
      envelopes[endpoint] = envelope;
    },
    close: server.close,
  };
}
