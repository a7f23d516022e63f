/**
 * A bounded soak: 2,000 mixed queries at concurrency 50 through the real HTTP server, against the demo
 * upstream injecting a few percent of faults and enforcing the same rate limit as the gateway's budget.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, startHarness } from './support/harness.js';
import { startTestUpstream, type TestUpstream } from './support/test-upstream.js';

const TOTAL = 2000;
const CONCURRENCY = 50;
const BUDGET_PER_MINUTE = 600;
const EXPECTED_CODES = new Set(['UPSTREAM_UNAVAILABLE', 'UPSTREAM_RATE_LIMITED', 'UPSTREAM_BAD_RESPONSE', 'UPSTREAM_TIMEOUT']);

function queryFor(i: number): string {
  switch (i % 6) {
    case 0:
      return `{ leads(first: ${[10, 25, 50][i % 3]}) { edges { node { kommoId name pipeline { name } status { name kind } responsibleUser { name } tags { name } } } } }`;
    case 1:
      return `{ lead(kommoId: "${20000001 + ((i * 7) % 1400)}") { kommoId name tags { name } } }`;
    case 2:
      return `{ leads(first: 20, filter: { pipelineId: "${7000001 + (i % 4)}" }) { pageInfo { hasNextPage } edges { node { kommoId status { name } } } } }`;
    case 3:
      return '{ pipelines { name statuses { name kind } } users { name email } }';
    case 4:
      return `{ user(kommoId: "${9000001 + (i % 36)}") { name leads(first: 5) { edges { node { kommoId price } } } } }`;
    default:
      return `{ leads(last: 10) { edges { node { kommoId createdAt } } } }`;
  }
}

const gc = (): void => (globalThis as { gc?: () => void }).gc?.();

describe('soak', () => {
  let demo: TestUpstream;
  let harness: Harness;
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown): void => {
    unhandled.push(reason);
  };

  beforeAll(async () => {
    process.on('unhandledRejection', onUnhandled);
    demo = await startTestUpstream({ leads: 1500, seed: 9 });
    demo.enforceRateLimit(BUDGET_PER_MINUTE);
    harness = await startHarness({
      upstream: demo,
      env: {
        LEADGRAPH_V4_RATE_PER_MIN: String(BUDGET_PER_MINUTE),
        LEADGRAPH_RATE_MAX_WAIT_MS: '1500',
        // One client drives it all: the whole budget is its share, so the budget itself is what is exercised.
        LEADGRAPH_CLIENT_BUDGET_SHARE: '1',
        // Short TTLs, so the upstream (and its faults and the budget) keep being exercised.
        LEADGRAPH_CACHE_TTL_LEADS_SECONDS: '2',
        LEADGRAPH_CACHE_TTL_REFERENCE_SECONDS: '5',
        LEADGRAPH_UPSTREAM_TIMEOUT_MS: '1000',
      },
    });
  });
  afterAll(async () => {
    process.off('unhandledRejection', onUnhandled);
    await harness?.close();
    await demo?.close();
  });

  it(`${TOTAL} queries at concurrency ${CONCURRENCY} with injected faults: valid answers, no crash, never over the upstream budget, memory back near its start`, async () => {
    const run = async (from: number, to: number) => {
      const outcomes: { status: number; codes: string[]; ok: boolean }[] = [];
      let next = from;
      const worker = async () => {
        while (next < to) {
          const i = next;
          next += 1;
          const response = await harness.post({ query: queryFor(i) });
          const body = (await response.json()) as { data?: unknown; errors?: { extensions?: { code?: string } }[] };
          expect(body.data !== undefined || body.errors !== undefined).toBe(true);
          outcomes.push({
            status: response.status,
            codes: (body.errors ?? []).map((error) => String(error.extensions?.code)),
            ok: !body.errors,
          });
        }
      };
      await Promise.all(Array.from({ length: CONCURRENCY }, worker));
      return outcomes;
    };

    // Warm up, then take the memory baseline with the cache emptied.
    await run(0, 200);
    harness.gateway.cache.clear();
    gc();
    const baseline = process.memoryUsage().heapUsed;

    demo.setFaults([
      { kind: 'error', status: 500, probability: 0.03 },
      { kind: 'slow', delayMs: 150, probability: 0.02 },
      { kind: 'rate-limit', retryAfterSeconds: 1, probability: 0.01 },
      { kind: 'bad-json', probability: 0.005 },
    ]);
    const outcomes = await run(200, TOTAL + 200);
    demo.setFaults([]);

    expect(outcomes).toHaveLength(TOTAL);
    expect(outcomes.every((outcome) => outcome.status === 200)).toBe(true);
    const unexpected = outcomes.flatMap((outcome) => outcome.codes).filter((code) => !EXPECTED_CODES.has(code));
    expect(unexpected).toEqual([]);
    // Most queries succeed: the faults are a few percent, the cache absorbs repeats, and what is over
    // the budget fails fast (UPSTREAM_RATE_LIMITED) instead of reaching the upstream.
    expect(outcomes.filter((outcome) => outcome.ok).length).toBeGreaterThan(TOTAL * 0.5);
    expect(unhandled).toEqual([]);
    // The upstream enforces the same budget: the gateway never made it refuse a call over it.
    expect(demo.rateLimitViolations).toBe(0);

    harness.gateway.cache.clear();
    gc();
    const grownMb = (process.memoryUsage().heapUsed - baseline) / 1024 / 1024;
    const codes: Record<string, number> = {};
    for (const code of outcomes.flatMap((outcome) => outcome.codes)) codes[code] = (codes[code] ?? 0) + 1;
    console.info(
      `soak: ${outcomes.filter((o) => o.ok).length}/${TOTAL} without errors, error codes ${JSON.stringify(codes)}, ` +
        `${demo.count()} upstream calls (${demo.requests.filter((r) => r.status !== 200).length} faulted), heap ${grownMb.toFixed(1)} MB over baseline`,
    );
    expect(grownMb).toBeLessThan(30);

    // And the gateway still serves.
    const after = await harness.post({ query: '{ pipelines { name } }' });
    expect(((await after.json()) as { data: { pipelines: unknown[] } }).data.pipelines).toHaveLength(4);
  }, 120_000);
});
