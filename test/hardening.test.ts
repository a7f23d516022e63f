import { request as httpRequest } from 'node:http';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { type Harness, startHarness } from './support/harness.js';
import { startTestUpstream, type TestUpstream } from './support/test-upstream.js';

interface Body {
  data?: Record<string, unknown> | null;
  errors?: { message: string; path?: string[]; extensions?: { code?: string; retryAfter?: number } }[];
}

const LEADS = '{ leads(first: 3) { edges { node { kommoId } } } }';

async function ask(harness: Harness, query: string, headers: Record<string, string> = {}): Promise<Body> {
  const response = await harness.post({ query }, headers);
  return (await response.json()) as Body;
}

/** The gateway still answers a healthy query once the fault is gone. */
async function stillServing(harness: Harness): Promise<void> {
  harness.demo.setFaults([]);
  const body = await ask(harness, '{ lead(kommoId: "20000002") { kommoId } }');
  expect(body.errors).toBeUndefined();
  expect(body.data).toEqual({ lead: { kommoId: '20000002' } });
}

describe('upstream faults', () => {
  let demo: TestUpstream;
  let harness: Harness;
  beforeAll(async () => {
    demo = await startTestUpstream({ leads: 60 });
    harness = await startHarness({
      upstream: demo,
      env: { LEADGRAPH_UPSTREAM_TIMEOUT_MS: '300', LEADGRAPH_UPSTREAM_RETRIES: '2', LEADGRAPH_RATE_MAX_WAIT_MS: '3000' },
    });
  });
  afterAll(async () => {
    await harness.close();
    await demo.close();
  });
  afterEach(async () => {
    await stillServing(harness);
    demo.reset();
  });

  it('a hanging upstream is UPSTREAM_TIMEOUT after the per-attempt timeout and the retries, in bounded time', async () => {
    demo.setFaults([{ kind: 'hang' }]);
    const started = Date.now();
    const body = await ask(harness, LEADS);
    expect(body.errors?.[0]?.extensions?.code).toBe('UPSTREAM_TIMEOUT');
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(demo.requests.map((request) => request.status)).toEqual([0, 0, 0]); // 3 attempts, none answered
  });

  it('a passing 5xx is retried and the query succeeds', async () => {
    demo.setFaults([{ kind: 'error', status: 503, times: 2 }]);
    const body = await ask(harness, LEADS);
    expect(body.errors).toBeUndefined();
    expect(demo.requests.map((request) => request.status)).toEqual([503, 503, 200]);
  });

  it('a lasting 5xx is UPSTREAM_UNAVAILABLE after the capped attempts', async () => {
    demo.setFaults([{ kind: 'error', status: 500 }]);
    const body = await ask(harness, LEADS);
    expect(body.errors?.[0]?.extensions?.code).toBe('UPSTREAM_UNAVAILABLE');
    expect(demo.count('leads')).toBe(3);
  });

  it('a 429 within the maximum wait honours Retry-After and then succeeds', async () => {
    demo.setFaults([{ kind: 'rate-limit', retryAfterSeconds: 1, times: 1 }]);
    const started = Date.now();
    const body = await ask(harness, LEADS);
    expect(body.errors).toBeUndefined();
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    expect(demo.requests.map((request) => request.status)).toEqual([429, 200]);
  });

  it('a 429 asking for longer than the maximum wait fails fast with UPSTREAM_RATE_LIMITED and retryAfter', async () => {
    demo.setFaults([{ kind: 'rate-limit', retryAfterSeconds: 120 }]);
    const started = Date.now();
    const body = await ask(harness, LEADS);
    expect(body.errors?.[0]?.extensions).toMatchObject({ code: 'UPSTREAM_RATE_LIMITED', retryAfter: 120 });
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(demo.count('leads')).toBe(1);
  });

  it('malformed JSON is UPSTREAM_BAD_RESPONSE and is not retried', async () => {
    demo.setFaults([{ kind: 'bad-json', endpoints: ['leads'] }]);
    const body = await ask(harness, LEADS);
    expect(body.errors?.[0]?.extensions?.code).toBe('UPSTREAM_BAD_RESPONSE');
    expect(demo.count('leads')).toBe(1);
  });

  it("an nginx HTML 403 (a blocked account) is UPSTREAM_FORBIDDEN, not retried, and the page's HTML is not echoed", async () => {
    demo.setFaults([{ kind: 'html-403' }]);
    const body = await ask(harness, LEADS);
    expect(body.errors?.[0]?.extensions?.code).toBe('UPSTREAM_FORBIDDEN');
    expect(body.errors?.[0]?.message).toBe('V4 API refused access (403): an HTML page');
    expect(demo.count('leads')).toBe(1);
  });

  it('a slow upstream within the timeout is just slow', async () => {
    demo.setFaults([{ kind: 'slow', delayMs: 150 }]);
    const body = await ask(harness, LEADS);
    expect(body.errors).toBeUndefined();
  });

  it('users down while leads work: leads with null users and an error per path', async () => {
    demo.setFaults([{ kind: 'error', status: 500, endpoints: ['users'] }]);
    const body = await ask(harness, '{ leads(first: 4) { edges { node { kommoId responsibleUser { name } pipeline { name } } } } }');
    const edges = (body.data?.leads as { edges: { node: { responsibleUser: unknown; pipeline: unknown } }[] } | undefined)?.edges ?? [];
    expect(edges).toHaveLength(4);
    expect(edges.every((edge) => edge.node.responsibleUser === null && edge.node.pipeline !== null)).toBe(true);
    expect(
      body.errors?.every((error) => error.extensions?.code === 'UPSTREAM_UNAVAILABLE' && error.path?.at(-1) === 'responsibleUser'),
    ).toBe(true);
  });
});

describe('the request deadline', () => {
  it('ends a request that would outlast LEADGRAPH_REQUEST_TIMEOUT_MS with UPSTREAM_TIMEOUT, whatever the per-call timeout', async () => {
    const demo = await startTestUpstream({ leads: 10 });
    demo.setFaults([{ kind: 'hang' }]);
    const harness = await startHarness({
      upstream: demo,
      env: { LEADGRAPH_UPSTREAM_TIMEOUT_MS: '60000', LEADGRAPH_REQUEST_TIMEOUT_MS: '400' },
    });
    try {
      const started = Date.now();
      const body = await ask(harness, LEADS);
      expect(body.errors?.[0]?.extensions?.code).toBe('UPSTREAM_TIMEOUT');
      expect(body.errors?.[0]?.message).toMatch(/ran out of time \(LEADGRAPH_REQUEST_TIMEOUT_MS\)/);
      expect(Date.now() - started).toBeLessThan(5_000);
    } finally {
      await harness.close();
      await demo.close();
    }
  });
});

describe('the upstream budget', () => {
  it('keeps the gateway under an enforced upstream limit and fails fast past it', async () => {
    const demo = await startTestUpstream({ leads: 30 });
    demo.enforceRateLimit(10);
    // One client (no name, one address) here: the whole budget is its share (fair shares: test/fair.test.ts).
    const harness = await startHarness({
      upstream: demo,
      env: { LEADGRAPH_V4_RATE_PER_MIN: '10', LEADGRAPH_RATE_MAX_WAIT_MS: '200', LEADGRAPH_CLIENT_BUDGET_SHARE: '1' },
    });
    try {
      const results = await Promise.all(
        Array.from({ length: 25 }, (_, i) => ask(harness, `{ lead(kommoId: "${20000001 + i}") { kommoId } }`)),
      );
      const limited = results.filter((body) => body.errors?.[0]?.extensions?.code === 'UPSTREAM_RATE_LIMITED');
      expect(results.filter((body) => !body.errors)).toHaveLength(10);
      expect(limited).toHaveLength(15);
      expect(limited[0]?.errors?.[0]?.extensions?.retryAfter).toBeGreaterThan(50);
      expect(limited[0]?.errors?.[0]?.message).toMatch(/budget of this gateway is used up/);
      expect(demo.count()).toBe(10);
      expect(demo.rateLimitViolations).toBe(0);
      const metrics = await (await fetch(harness.url.replace('/graphql', '/metrics'))).text();
      expect(metrics).toMatch(/leadgraph_limiter_rejections_total 15/);
    } finally {
      await harness.close();
      await demo.close();
    }
  });

  it('queues a call over budget while its slot comes within the maximum wait', async () => {
    const demo = await startTestUpstream({ leads: 10 });
    const harness = await startHarness({
      upstream: demo,
      env: { LEADGRAPH_V4_RATE_PER_MIN: '2', LEADGRAPH_RATE_MAX_WAIT_MS: '100000', LEADGRAPH_CLIENT_BUDGET_SHARE: '1' },
    });
    try {
      // Two calls spend the budget; a third would wait ~60 s, longer than this test wants: abort it.
      await ask(harness, '{ lead(kommoId: "20000001") { kommoId } }');
      await ask(harness, '{ lead(kommoId: "20000002") { kommoId } }');
      const controller = new AbortController();
      const waiting = harness.post({ query: '{ lead(kommoId: "20000003") { kommoId } }' }, {}, controller.signal).catch(() => 'aborted');
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(demo.count()).toBe(2);
      controller.abort();
      expect(await waiting).toBe('aborted');
      const metrics = await (await fetch(harness.url.replace('/graphql', '/metrics'))).text();
      expect(metrics).toMatch(/leadgraph_limiter_rejections_total 0/);
    } finally {
      await harness.close();
      await demo.close();
    }
  });
});

describe('the cross-request cache', () => {
  it('serves repeated queries without upstream calls, and coalesces concurrent ones', async () => {
    const demo = await startTestUpstream({ leads: 100, latencyMs: 30 });
    const harness = await startHarness({
      upstream: demo,
      // The upstream cache alone: no whole-response cache in front of it.
      env: {
        LEADGRAPH_CACHE_TTL_LEADS_SECONDS: '600',
        LEADGRAPH_CACHE_TTL_REFERENCE_SECONDS: '3600',
        LEADGRAPH_RESPONSE_CACHE_ENTRIES: '0',
      },
    });
    try {
      const query = '{ leads(first: 20) { edges { node { kommoId pipeline { name } responsibleUser { name } } } } }';
      const first = await Promise.all(Array.from({ length: 10 }, () => ask(harness, query)));
      expect(first.every((body) => !body.errors)).toBe(true);
      expect([demo.count('leads'), demo.count('pipelines'), demo.count('users')]).toEqual([1, 1, 1]);
      demo.reset();
      const again = await ask(harness, query);
      expect(again).toEqual(first[0]);
      expect(demo.count()).toBe(0);
      // Another window over the same upstream block is also free.
      await ask(harness, '{ leads(first: 40) { edges { node { kommoId } } } }');
      expect(demo.count()).toBe(0);
      const metrics = await (await fetch(harness.url.replace('/graphql', '/metrics'))).text();
      const lookups = (outcome: string) =>
        Number(new RegExp(`leadgraph_cache_lookups_total\\{class="leads",outcome="${outcome}"\\} (\\d+)`).exec(metrics)?.[1] ?? 0);
      // The 10 concurrent requests were served by one upstream call: 1 miss, the rest coalesced (or hits, on a slow machine).
      expect(lookups('miss')).toBe(1);
      expect(lookups('coalesced')).toBeGreaterThan(0);
      expect(lookups('coalesced') + lookups('hit')).toBe(11);
    } finally {
      await harness.close();
      await demo.close();
    }
  });

  it('answers an identical query from the response cache without executing it, per tenant', async () => {
    const demo = await startTestUpstream({ leads: 30 });
    const harness = await startHarness({
      upstream: demo,
      env: { LEADGRAPH_CACHE_TTL_LEADS_SECONDS: '600', LEADGRAPH_CACHE_TTL_REFERENCE_SECONDS: '600' },
    });
    const lookups = async () => {
      const text = await (await fetch(harness.url.replace('/graphql', '/metrics'))).text();
      return [...text.matchAll(/leadgraph_cache_lookups_total\{[^}]*\} (\d+)/g)].reduce((sum, match) => sum + Number(match[1]), 0);
    };
    try {
      const query = '{ leads(first: 5) { edges { node { kommoId responsibleUser { name } } } } }';
      const first = await ask(harness, query);
      const before = await lookups();
      // A hit sends the bytes encoded when the entry was stored: the result is not stringified again.
      const stringify = vi.spyOn(JSON, 'stringify');
      const encodes = () => stringify.mock.calls.filter(([value]) => (value as { data?: { leads?: unknown } } | null)?.data?.leads).length;
      for (const accept of [undefined, 'application/json', 'application/graphql-response+json', '*/*']) {
        const response = await fetch(harness.url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...(accept ? { accept } : {}) },
          body: JSON.stringify({ query }),
        });
        const text = await response.text();
        expect(JSON.parse(text)).toEqual(first); // no internal extensions in the body
        expect(response.headers.get('etag')).toMatch(/^W\/"[0-9a-f]{16}-[0-9a-f]{32}"$/);
        expect(response.headers.get('content-type')).toBe(`${accept && accept !== '*/*' ? accept : 'application/json'}; charset=utf-8`);
      }
      expect(encodes()).toBe(0);
      stringify.mockRestore();
      expect(await lookups()).toBe(before); // not executed: no upstream cache lookup at all
      // A failed answer is never cached.
      demo.setFaults([{ kind: 'error', status: 500 }]);
      const uncached = '{ lead(kommoId: "20000003") { kommoId } }';
      expect((await ask(harness, uncached)).errors?.[0]?.extensions?.code).toBe('UPSTREAM_UNAVAILABLE');
      demo.setFaults([]);
      expect((await ask(harness, uncached)).errors).toBeUndefined();
    } finally {
      await harness.close();
      await demo.close();
    }
  });

  it('does not cache failures', async () => {
    const demo = await startTestUpstream({ leads: 20 });
    const harness = await startHarness({
      upstream: demo,
      env: { LEADGRAPH_CACHE_TTL_LEADS_SECONDS: '600', LEADGRAPH_UPSTREAM_RETRIES: '0' },
    });
    try {
      demo.setFaults([{ kind: 'error', status: 500, times: 1 }]);
      expect((await ask(harness, LEADS)).errors?.[0]?.extensions?.code).toBe('UPSTREAM_UNAVAILABLE');
      expect((await ask(harness, LEADS)).errors).toBeUndefined();
      expect(demo.count('leads')).toBe(2);
    } finally {
      await harness.close();
      await demo.close();
    }
  });
});

describe('multi-tenant mode', () => {
  let demo: TestUpstream;
  let harness: Harness;
  let other: ReturnType<TestUpstream['addTenant']>;
  const headersOf = (tenant: { clientId: string; clientSecret: string; workspaceId: string }) => ({
    'x-client-id': tenant.clientId,
    'x-client-secret': tenant.clientSecret,
    'x-workspace-id': tenant.workspaceId,
  });

  beforeAll(async () => {
    demo = await startTestUpstream({ leads: 50, seed: 1 });
    other = demo.addTenant({ leads: 50, seed: 2 });
    harness = await startHarness({
      upstream: demo,
      credentials: { V4_CLIENT_ID: '', V4_CLIENT_SECRET: '', V4_WORKSPACE_ID: '' },
      env: {
        LEADGRAPH_CREDENTIALS_FROM_REQUEST: 'true',
        LEADGRAPH_CACHE_TTL_LEADS_SECONDS: '600',
        LEADGRAPH_CACHE_TTL_REFERENCE_SECONDS: '600',
      },
    });
  });
  afterAll(async () => {
    await harness.close();
    await demo.close();
  });

  it('two tenants, interleaved, each see only their own rows', async () => {
    const query = '{ leads(first: 50) { edges { node { kommoId name price } } } users { name } }';
    const rounds = await Promise.all(
      Array.from({ length: 6 }, (_, i) =>
        ask(harness, query, headersOf(i % 2 === 0 ? demo : other)).then((body) => ({ tenant: i % 2, body })),
      ),
    );
    const namesOf = (rows: readonly Record<string, unknown>[]) =>
      rows.filter((row) => row.is_deleted !== true).map((row) => row.lead_name ?? '');
    const expected = [new Set(namesOf(demo.data.leadRows)), new Set(namesOf(other.data.leadRows))];
    for (const { tenant, body } of rounds) {
      const leads = ((body.data?.leads as { edges: { node: { name: string } }[] } | undefined)?.edges ?? []).map((edge) => edge.node.name);
      expect(leads.length).toBeGreaterThan(20);
      for (const name of leads) expect(expected[tenant]?.has(name)).toBe(true);
    }
    const [a, b] = [rounds[0]?.body.data?.leads, rounds[1]?.body.data?.leads];
    expect(a).not.toEqual(b);
  });

  it("a wrong secret gets the upstream's 401 even while the right tenant's identical query is warm", async () => {
    const query = '{ leads(first: 5) { edges { node { kommoId } } } }';
    expect((await ask(harness, query, headersOf(demo))).errors).toBeUndefined();
    demo.reset();
    const response = await harness.post({ query }, { ...headersOf(demo), 'x-client-secret': 'not-the-secret' });
    // The request's own credentials failed: HTTP 401, as for missing ones.
    expect(response.status).toBe(401);
    const body = (await response.json()) as Body;
    expect(body.errors?.[0]?.extensions?.code).toBe('UPSTREAM_UNAUTHORIZED');
    expect(demo.requests.map((request) => request.status)).toEqual([401]);
  });

  it('missing credential headers are UNAUTHENTICATED, naming them, never a fallback', async () => {
    const response = await harness.post({ query: '{ pipelines { name } }' }, { 'x-client-id': demo.clientId });
    expect(response.status).toBe(401);
    const body = (await response.json()) as Body;
    expect(body.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    expect(body.errors?.[0]?.message).toMatch(/send x-client-secret, x-workspace-id/);
  });

  it('answers If-None-Match with 304 only to the tenant whose response it names, never to a wrong secret or no credentials', async () => {
    const query = JSON.stringify({ query: '{ pipelines { name } }' });
    const first = await harness.post(query, headersOf(demo));
    const etag = first.headers.get('etag') as string;
    expect(etag).toMatch(/^W\/"[0-9a-f]{16}-[0-9a-f]{32}"$/);
    expect((await harness.post(query, { ...headersOf(demo), 'if-none-match': etag })).status).toBe(304);
    const wrong = await harness.post(query, { ...headersOf(demo), 'x-client-secret': 'not-the-secret', 'if-none-match': etag });
    expect(wrong.status).not.toBe(304);
    expect(((await wrong.json()) as Body).errors?.[0]?.extensions?.code).toBe('UPSTREAM_UNAUTHORIZED');
    const none = await harness.post(query, { 'if-none-match': etag });
    expect(none.status).toBe(401);
    const otherTenant = await harness.post(query, { ...headersOf(other), 'if-none-match': etag });
    expect(otherTenant.status).toBe(200);
  });

  it('a wrong secret costs the upstream one call, however often it is sent; another wrong secret one more', async () => {
    demo.reset();
    const wrong = { ...headersOf(demo), 'x-client-secret': 'guess-1' };
    for (let i = 0; i < 20; i += 1) {
      const body = await ask(harness, '{ pipelines { name } }', wrong);
      expect(body.errors?.[0]?.extensions?.code).toBe('UPSTREAM_UNAUTHORIZED');
    }
    await ask(harness, '{ pipelines { name } }', { ...headersOf(demo), 'x-client-secret': 'guess-2' });
    expect(demo.requests.filter((request) => request.status === 401)).toHaveLength(2);
    // The right secret is unaffected.
    expect((await ask(harness, '{ pipelines { name } }', headersOf(demo))).errors).toBeUndefined();
  });

  it('logs a refused request once at info, with its request id and code, and no stack', async () => {
    const before = harness.logs.length;
    await harness.post({ query: '{ pipelines { name } }' }, { 'x-client-id': demo.clientId, 'x-request-id': 'unauth-1' });
    await harness.post({ query: '{ leads(first: 9999) { edges { cursor } } }' }, { ...headersOf(demo), 'x-request-id': 'bad-input-1' });
    await harness.post({ query: '{ nope }' }, { ...headersOf(demo), 'x-request-id': 'invalid-1' });
    const lines = harness.logs.slice(before).map((line) => JSON.parse(line) as Record<string, unknown>);
    const refused = lines.filter((line) => line.msg === 'request refused: client error');
    expect(refused.map((line) => [line.level, line.requestId, line.codes])).toEqual([
      [30, 'unauth-1', ['UNAUTHENTICATED']],
      [30, 'bad-input-1', ['BAD_USER_INPUT']],
      [30, 'invalid-1', ['GRAPHQL_VALIDATION_FAILED']],
    ]);
    expect(lines.filter((line) => (line.level as number) >= 50)).toEqual([]);
    expect(harness.logs.slice(before).join('')).not.toMatch(/"stack"/);
  });
});

describe('observability', () => {
  let harness: Harness;
  beforeAll(async () => {
    harness = await startHarness({ demo: { leads: 20 } });
  });
  afterAll(() => harness.close());

  it('logs one JSON line per upstream call with the request id, and never a credential', async () => {
    const response = await harness.post(
      { query: '{ leads(first: 2) { edges { node { responsibleUser { name } } } } }' },
      { 'x-request-id': 'req-123' },
    );
    expect(response.headers.get('x-request-id')).toBe('req-123');
    const calls = harness.logs
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .filter((line) => line.msg === 'upstream call' && line.requestId === 'req-123');
    expect(calls.map((line) => line.endpoint).sort()).toEqual(['/v1/kommo/leads', '/v1/kommo/users']);
    expect(calls[0]).toMatchObject({ status: 200, cache: 'miss', retries: 0 });
    expect(typeof calls[0]?.durationMs).toBe('number');
    const all = harness.logs.join('\n');
    expect(all).not.toContain(harness.demo.clientSecret);
    expect(all).not.toContain(harness.demo.clientId);
  });

  it('gives every request an id when the client sends none', async () => {
    const response = await harness.post({ query: '{ pipelines { name } }' });
    expect(response.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('replaces an unsafe x-request-id with a UUID, the same one in the response and the logs, and echoes it on a refused body', async () => {
    const response = await harness.post(
      { query: '{ leads(first: 1) { edges { node { kommoId } } } }' },
      { 'x-request-id': 'no spaces allowed' },
    );
    const id = response.headers.get('x-request-id');
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    const logged = harness.logs.map((line) => JSON.parse(line) as Record<string, unknown>).filter((line) => line.requestId === id);
    expect(logged.map((line) => line.msg)).toContain('upstream call');
    const large = await harness.post({ query: `{ pipelines { name } } # ${'x'.repeat(120_000)}` }, { 'x-request-id': 'req-413' });
    expect(large.status).toBe(413);
    expect(large.headers.get('x-request-id')).toBe('req-413');
  });

  it('counts the operation operationName selects, once, and exposes the phase timings', async () => {
    const counted = async () => {
      const text = await (await fetch(harness.url.replace('/graphql', '/metrics'))).text();
      return { text, ok: Number(/leadgraph_graphql_operations_total\{operation_type="query",outcome="ok"\} (\d+)/.exec(text)?.[1] ?? 0) };
    };
    const before = await counted();
    const response = await harness.post({
      query: 'fragment P on Pipeline { name } query A { pipelines { ...P } } query B { users { name } }',
      operationName: 'B',
    });
    expect(Object.keys(((await response.json()) as Body).data ?? {})).toEqual(['users']);
    const after = await counted();
    expect(after.ok - before.ok).toBe(1);
    expect(after.text).toMatch(/graphql_envelop_phase_execute_count [1-9]/);
    expect(after.text).toMatch(/graphql_envelop_phase_validate_count [1-9]/);
  });

  it('exposes Prometheus metrics at /metrics, and /health and /ready', async () => {
    await harness.post({ query: '{ users { name } }' });
    const response = await fetch(harness.url.replace('/graphql', '/metrics'));
    expect(response.headers.get('content-type')).toMatch(/text\/plain/);
    const text = await response.text();
    expect(text).toMatch(/leadgraph_graphql_operations_total\{operation_type="query",outcome="ok"\} [1-9]/);
    expect(text).toMatch(/leadgraph_upstream_calls_total\{endpoint="\/v1\/kommo\/users",status="200"\} [1-9]/);
    expect(text).toMatch(/leadgraph_upstream_call_duration_seconds_bucket/);
    expect(text).toMatch(/leadgraph_cache_lookups_total/);
    expect(text).toMatch(/leadgraph_limiter_waits_total/);
    expect((await fetch(harness.url.replace('/graphql', '/health'))).status).toBe(200);
    const ready = await fetch(harness.url.replace('/graphql', '/ready'));
    expect(await ready.json()).toMatchObject({ status: 'ready', redis: 'off', index: { state: 'off', leads: 0 } });
    harness.gateway.drain();
    expect((await fetch(harness.url.replace('/graphql', '/ready'))).status).toBe(503);
  });
});

describe('query limits', () => {
  let harness: Harness;
  beforeAll(async () => {
    harness = await startHarness({ demo: { leads: 20 } });
  });
  afterAll(() => harness.close());

  const expectLimit = async (query: string, code: string, message: RegExp) => {
    harness.demo.reset();
    const body = await ask(harness, query);
    expect(body.errors?.[0]?.extensions?.code).toBe(code);
    expect(body.errors?.[0]?.message).toMatch(message);
    expect(harness.demo.count()).toBe(0);
  };

  it('measures a fragment explosion in linear time: 40 levels of fragments spreading the next twice are refused with their exact cost', async () => {
    const levels = 40;
    const fragments = Array.from({ length: levels }, (_, i) =>
      i + 1 < levels ? `fragment F${i + 1} on Lead { ...F${i + 2} ...F${i + 2} }` : `fragment F${i + 1} on Lead { kommoId }`,
    ).join(' ');
    const query = `query { leads(first: 1) { edges { node { ...F1 } } } } ${fragments}`;
    const started = performance.now();
    const [explosion, other] = await Promise.all([harness.post({ query }), harness.post({ query: '{ __typename }' })]);
    const body = (await explosion.json()) as Body;
    expect(body.errors?.[0]?.extensions?.code).toBe('QUERY_TOO_COMPLEX');
    // leads + edges + node, then 2^39 kommoId fields under one lead.
    expect(body.errors?.[0]?.message).toContain(`costs ${3 + 2 ** (levels - 1)};`);
    expect(((await other.json()) as Body).errors).toBeUndefined();
    // Generous: the walk per spread took 13 s at 20 levels and would take days at 40.
    expect(performance.now() - started).toBeLessThan(5_000);
  });

  it('refuses a query deeper than the maximum', async () => {
    let query = 'kommoId';
    for (let i = 0; i < 6; i += 1) query = `pipeline { leads(first: 1) { edges { node { ${query} } } } }`;
    await expectLimit(
      `{ lead(kommoId: "1") { ${query} } }`,
      'QUERY_TOO_DEEP',
      /levels deep; at most 12 are allowed \(LEADGRAPH_MAX_DEPTH\)/,
    );
  });

  it('says how deep a refused query is, and points at its operation', async () => {
    let query = 'kommoId';
    for (let i = 0; i < 6; i += 1) query = `pipeline { leads(first: 1) { edges { node { ${query} } } } }`;
    const body = (await ask(harness, `{ lead(kommoId: "1") { ${query} } }`)) as Body & { errors?: { locations?: unknown[] }[] };
    expect(body.errors?.[0]?.message).toBe('The query is 26 levels deep; at most 12 are allowed (LEADGRAPH_MAX_DEPTH)');
    expect(body.errors?.[0]?.locations).toEqual([{ line: 1, column: 1 }]);
  });

  it('counts depth through fragments without adding any, and refuses a fragment explosion in linear time', async () => {
    // F1 spreads F2 twice, F2 spreads F3 twice...: 2^19 copies of F20 once expanded, which holds a too deep selection.
    let tail = 'kommoId';
    for (let i = 0; i < 3; i += 1) tail = `pipeline { leads(first: 1) { edges { node { ${tail} } } } }`;
    const fragments = Array.from({ length: 19 }, (_, i) => `fragment F${i + 1} on Lead { ...F${i + 2} ...F${i + 2} }`);
    const started = Date.now();
    await expectLimit(
      `{ lead(kommoId: "1") { ...F1 } } ${fragments.join(' ')} fragment F20 on Lead { ${tail} }`,
      'QUERY_TOO_DEEP',
      /^The query is 14 levels deep/,
    );
    expect(Date.now() - started).toBeLessThan(1_000);
  });

  it('refuses too many aliases', async () => {
    const aliases = Array.from({ length: 21 }, (_, i) => `a${i}: pipelines { name }`).join(' ');
    await expectLimit(`{ ${aliases} }`, 'QUERY_TOO_MANY_ALIASES', /21 aliases; at most 20/);
  });

  it('counts the aliases of the operation that runs, not of every operation in the document', async () => {
    const aliases = (prefix: string) => Array.from({ length: 15 }, (_, i) => `${prefix}${i}: pipelines { name }`).join(' ');
    const response = await harness.post({ query: `query A { ${aliases('a')} } query B { ${aliases('b')} }`, operationName: 'B' });
    const body = (await response.json()) as Body;
    expect(body.errors).toBeUndefined();
    expect(Object.keys(body.data ?? {})).toHaveLength(15);
  });

  it('refuses a document with too many tokens, and a body over the size limit', async () => {
    const fields = Array.from({ length: 5100 }, () => 'name').join(' ');
    await expectLimit(`{ pipelines { ${fields} } }`, 'QUERY_TOO_LARGE', /more than 5000 tokens/);
    const response = await harness.post({ query: `{ pipelines { name } } # ${'x'.repeat(120_000)}` });
    expect(response.status).toBe(413);
    expect(((await response.json()) as Body).errors?.[0]?.extensions?.code).toBe('QUERY_TOO_LARGE');
  });

  it('bounds a chunked body (no Content-Length) the same way, and still reads a small one', async () => {
    // Written in chunks with Transfer-Encoding: chunked and no Content-Length. node:http, not fetch: the
    // gateway answers 413 before the client has sent everything, and fetch reports only the broken upload.
    const chunked = (text: string) =>
      new Promise<{ status: number; body: Body }>((resolve, reject) => {
        const request = httpRequest(harness.url, { method: 'POST', headers: { 'content-type': 'application/json' } }, (response) => {
          let data = '';
          response.setEncoding('utf8');
          response.on('data', (chunk: string) => {
            data += chunk;
          });
          response.on('end', () => resolve({ status: response.statusCode ?? 0, body: JSON.parse(data) as Body }));
        });
        request.on('error', (error: NodeJS.ErrnoException) => {
          if (error.code !== 'EPIPE' && error.code !== 'ECONNRESET') reject(error);
        });
        for (let offset = 0; offset < text.length; offset += 16_384) request.write(text.slice(offset, offset + 16_384));
        request.end();
      });
    const small = await chunked(JSON.stringify({ query: '{ pipelines { name } }' }));
    expect(small.status).toBe(200);
    expect(small.body.errors).toBeUndefined();
    const large = await chunked(JSON.stringify({ query: `{ pipelines { name } } # ${'x'.repeat(120_000)}` }));
    expect(large.status).toBe(413);
    expect(large.body.errors?.[0]?.extensions?.code).toBe('QUERY_TOO_LARGE');
    expect(large.body.errors?.[0]?.message).toMatch(/LEADGRAPH_MAX_BODY_BYTES/);
  });

  it('counts page sizes toward cost: a nested connection under every stage is refused, one page is fine', async () => {
    await expectLimit(
      '{ pipelines { statuses { leads(first: 250) { edges { node { kommoId name price tags { name } } } } } } }',
      'QUERY_TOO_COMPLEX',
      /costs \d+; at most 25000 is allowed \(LEADGRAPH_MAX_COST\)/,
    );
    const body = await ask(harness, 'query($n: Int) { leads(first: $n) { edges { node { kommoId name price tags { name } } } } }');
    expect(body.errors).toBeUndefined();
  });

  it('counts a variable default page size, and one item per id of nodes and _entities', async () => {
    const defaulted = await ask(
      harness,
      'query B($n: Int = 250) { leads(first: $n) { edges { node { kommoId pipeline { leads(first: $n) { edges { node { kommoId name price createdAt } } } } } } } }',
    );
    expect(defaulted.errors?.[0]?.extensions?.code).toBe('QUERY_TOO_COMPLEX');
    const ids = Array.from({ length: 3000 }, (_, i) => Buffer.from(`Lead:${20000001 + i}`).toString('base64'));
    harness.demo.reset();
    const response = await harness.post({
      query:
        'query Q($ids: [ID!]!) { nodes(ids: $ids) { ... on Lead { kommoId pipeline { leads(first: 250) { edges { node { kommoId name price } } } } } } }',
      variables: { ids },
    });
    const body = (await response.json()) as Body;
    expect(body.errors?.[0]?.extensions?.code).toBe('QUERY_TOO_COMPLEX');
    expect(body.errors?.[0]?.message).toMatch(/costs \d{7,}/);
    expect(harness.demo.count()).toBe(0);
  });

  it('answers every limit code alike: HTTP 400 with application/graphql-response+json, 200 with application/json', async () => {
    let deep = 'kommoId';
    for (let i = 0; i < 6; i += 1) deep = `pipeline { leads(first: 1) { edges { node { ${deep} } } } }`;
    const refused: [string, string][] = [
      ['QUERY_TOO_DEEP', `{ lead(kommoId: "1") { ${deep} } }`],
      ['QUERY_TOO_MANY_ALIASES', `{ ${Array.from({ length: 21 }, (_, i) => `a${i}: pipelines { name }`).join(' ')} }`],
      ['QUERY_TOO_LARGE', `{ pipelines { ${Array.from({ length: 5100 }, () => 'name').join(' ')} } }`],
      ['QUERY_TOO_COMPLEX', '{ pipelines { statuses { leads(first: 250) { edges { node { kommoId name price tags { name } } } } } } }'],
      ['GRAPHQL_VALIDATION_FAILED', '{ nope }'],
    ];
    const seen: string[] = [];
    for (const [code, query] of refused) {
      for (const [accept, status] of [
        ['application/graphql-response+json', 400],
        ['application/json', 200],
      ] as const) {
        const response = await harness.post({ query }, { accept });
        const body = (await response.json()) as Body;
        seen.push(`${code} ${accept} ${response.status} ${body.errors?.[0]?.extensions?.code}`);
        expect(seen.at(-1)).toBe(`${code} ${accept} ${status} ${code}`);
      }
    }
    expect(seen).toHaveLength(10);
  });

  it('lets GraphiQL introspect the schema', async () => {
    const { getIntrospectionQuery } = await import('graphql');
    const body = await ask(harness, getIntrospectionQuery());
    expect(body.errors).toBeUndefined();
  });
});
