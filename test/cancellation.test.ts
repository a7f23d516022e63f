/**
 * Upstream calls of a request that ended are cancelled, not left running: the client going away, or
 * its answer going out while calls of it are still in flight. A call another live request shares
 * (coalesced in the memory cache) goes on until its last request ends. Real gateway and test upstream
 * on 127.0.0.1; the upstream tells which calls lost their client before it answered.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, startHarness } from './support/harness.js';
import { startTestUpstream, type TestUpstream } from './support/test-upstream.js';
import { until } from './support/until.js';

const LEADS = '{ leads(first: 3) { edges { node { kommoId } } } }';
/** How soon after its request ended a call must be cancelled. */
const PROMPTLY_MS = 1_000;

interface Body {
  data?: Record<string, unknown> | null;
  errors?: { extensions?: { code?: string } }[];
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('cancelling the upstream calls of a request that ended', () => {
  let demo: TestUpstream;
  let harness: Harness;
  beforeAll(async () => {
    demo = await startTestUpstream({ leads: 30 });
    // A deadline and per-attempt timeout far away: whatever cancels a call here, it is not them.
    harness = await startHarness({
      upstream: demo,
      env: { LEADGRAPH_REQUEST_TIMEOUT_MS: '60000', LEADGRAPH_UPSTREAM_TIMEOUT_MS: '120000', LEADGRAPH_RESPONSE_CACHE_ENTRIES: '0' },
    });
  });
  afterAll(async () => {
    await harness.close();
    await demo.close();
  });

  const fresh = () => {
    demo.setFaults([]);
    demo.reset();
  };

  it('a client that goes away cancels the call it was waiting for', async () => {
    fresh();
    demo.setFaults([{ kind: 'hang' }]);
    const client = new AbortController();
    const asked = harness.post({ query: LEADS }, {}, client.signal).catch((error: unknown) => error);
    await until(() => demo.inFlight === 1, 5_000, 'the call reaching the upstream');
    const left = Date.now();
    client.abort();
    await asked;
    await until(() => demo.cancelled.length === 1, PROMPTLY_MS, 'the upstream seeing the call cancelled');
    expect((demo.cancelled[0]?.closedAt ?? 0) - left).toBeLessThan(PROMPTLY_MS);
    expect(demo.inFlight).toBe(0);
  });

  it('a call another request shares goes on when one client leaves, and is cancelled when the last one does', async () => {
    fresh();
    demo.setFaults([{ kind: 'hang' }]);
    const first = new AbortController();
    const second = new AbortController();
    const asked = [first, second].map((client) => harness.post({ query: LEADS }, {}, client.signal).catch((error: unknown) => error));
    await until(() => demo.inFlight === 1, 5_000, 'the shared call reaching the upstream');
    await pause(100); // both requests are waiting for the one call now
    first.abort();
    await pause(500);
    expect([demo.count('leads'), demo.inFlight, demo.cancelled.length]).toEqual([1, 1, 0]);
    second.abort();
    await Promise.all(asked);
    await until(() => demo.cancelled.length === 1, PROMPTLY_MS, 'the upstream seeing the shared call cancelled');
    expect(demo.inFlight).toBe(0);
  });

  it('an answer that goes out while calls of its request are in flight cancels them', async () => {
    fresh();
    // Three lookups at once: the first to arrive fails with a 400 (not retried), which fails the batch and
    // so the answer; the other two hang, and nothing waits for them any more.
    demo.setFaults([
      { kind: 'error', status: 400, times: 1, endpoints: ['leads'] },
      { kind: 'hang', endpoints: ['leads'] },
    ]);
    const response = await harness.post({
      query:
        '{ a: lead(kommoId: "20000001") { kommoId } b: lead(kommoId: "20000002") { kommoId } c: lead(kommoId: "20000003") { kommoId } }',
    });
    const body = (await response.json()) as Body;
    const answered = Date.now();
    expect(body.errors?.[0]?.extensions?.code).toBe('UPSTREAM_BAD_REQUEST');
    await until(() => demo.cancelled.length === 2, PROMPTLY_MS, 'the upstream seeing both hanging lookups cancelled');
    expect(demo.cancelled.every((call) => call.endpoint === 'leads' && call.closedAt - answered < PROMPTLY_MS)).toBe(true);
    expect([demo.count('leads'), demo.inFlight]).toEqual([3, 0]);
  });
});
