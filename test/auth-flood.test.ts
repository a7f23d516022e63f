/**
 * Multi-tenant mode under a wrong-secret flood: failed authentications are budgeted per client id
 * and per address (the upstream sees a few 401s, not one per guess), credentials not yet accepted
 * share one small part of the upstream connections, and another tenant's latency stays where it was.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type GatewayProcess, startGatewayProcess } from './support/process.js';
import { startTestUpstream, type TestUpstream } from './support/test-upstream.js';

interface Body {
  data?: Record<string, unknown> | null;
  errors?: { message: string; extensions?: Record<string, unknown> }[];
}

const headersOf = (tenant: { clientId: string; clientSecret: string; workspaceId: string }) => ({
  'x-client-id': tenant.clientId,
  'x-client-secret': tenant.clientSecret,
  'x-workspace-id': tenant.workspaceId,
});

describe('a wrong-secret flood in multi-tenant mode', () => {
  let demo: TestUpstream;
  let other: ReturnType<TestUpstream['addTenant']>;
  let gateway: GatewayProcess;
  const post = (query: string, headers: Record<string, string>) =>
    fetch(gateway.url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify({ query }) });

  beforeAll(async () => {
    demo = await startTestUpstream({ leads: 100, seed: 6 });
    other = demo.addTenant({ leads: 100, seed: 8 });
    // A process of its own, as in production: the flood's clients and the upstream here do not share its CPU.
    gateway = await startGatewayProcess(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
      V4_API_URL: demo.url,
      LEADGRAPH_CREDENTIALS_FROM_REQUEST: 'true',
      LEADGRAPH_CACHE_TTL_LEADS_SECONDS: '0',
      LEADGRAPH_CACHE_TTL_REFERENCE_SECONDS: '0',
    });
  }, 30_000);
  afterAll(async () => {
    gateway.child.kill('SIGKILL');
    await demo.close();
  });

  const timedQuery = async (i: number): Promise<{ ms: number; body: Body }> => {
    const started = Date.now();
    // A different page size each time: never answered from a cache.
    const response = await post(`{ leads(first: ${i + 1}) { edges { node { kommoId } } } }`, headersOf(other));
    return { ms: Date.now() - started, body: (await response.json()) as Body };
  };

  it('costs the upstream a bounded number of 401s, and leaves another tenant as fast as before', async () => {
    demo.setLatency(100);
    // The other tenant is known to the upstream (accepted), and its latency alone is measured.
    const alone: number[] = [];
    for (let i = 0; i < 5; i += 1) {
      const { ms, body } = await timedQuery(i);
      expect(body.errors).toBeUndefined();
      alone.push(ms);
    }
    demo.reset();
    const flood = Array.from({ length: 600 }, (_, i) =>
      post('{ pipelines { name } }', { ...headersOf(demo), 'x-client-secret': `guess-${i}` }).then(async (response) => ({
        status: response.status,
        body: (await response.json()) as Body,
      })),
    );
    const during: number[] = [];
    for (let i = 5; i < 10; i += 1) {
      const { ms, body } = await timedQuery(i);
      expect(body.errors).toBeUndefined();
      during.push(ms);
    }
    const answers = await Promise.all(flood);
    demo.setLatency(0);

    const codes = new Set(answers.map((answer) => answer.body.errors?.[0]?.extensions?.code));
    expect([...codes].sort()).toEqual(['UNAUTHENTICATED', 'UPSTREAM_UNAUTHORIZED']);
    const refusedUnasked = answers.filter((answer) => answer.body.errors?.[0]?.extensions?.code === 'UNAUTHENTICATED');
    expect(refusedUnasked.length).toBeGreaterThan(500);
    expect(refusedUnasked.every((answer) => answer.status === 401 && Number(answer.body.errors?.[0]?.extensions?.retryAfter) > 0)).toBe(
      true,
    );
    // At most the per-minute budget (10), plus the calls already through the shared gate (8) when it filled.
    const unauthorized = demo.requests.filter((request) => request.status === 401).length;
    expect(unauthorized).toBeGreaterThanOrEqual(10);
    expect(unauthorized).toBeLessThanOrEqual(18);
    // Calls in flight upstream: the guesses' one shared share (8), and the other tenant's one query.
    expect(demo.maxInFlight).toBeLessThanOrEqual(9);
    // The other tenant: its own share of the connections, so its queries take what they took alone (one
    // upstream round trip of 100 ms). The first one, sent at the instant the 600 guesses arrive, waits for the
    // gateway to accept and parse them (CPU, not upstream connections): the median is what is compared.
    const median = (list: number[]) => [...list].sort((a, b) => a - b)[Math.floor(list.length / 2)] as number;
    expect(median(during)).toBeLessThan(2 * median(alone) + 100);
    // The right secret of the flooded client id, never used before, waits out the failure budget like
    // any credential the upstream has not accepted yet (one accepted before the flood would pass).
    const right = (await (await post('{ pipelines { name } }', headersOf(demo))).json()) as Body;
    expect(right.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
  });
});
