/**
 * The request deadline end to end, at LEADGRAPH_REQUEST_TIMEOUT_MS 20 s and 30 s: real gateways on
 * 127.0.0.1 (in this process, and one as a process of its own, as `npm start` runs it), the test
 * upstream, a real redis-server for the replicas. Whatever a request waits for (a hanging upstream,
 * slow failed attempts and their backoff, a Retry-After, a budget slot, another replica's fetch lock),
 * its answer comes by the deadline plus the README's margin, with UPSTREAM_TIMEOUT or the data it has,
 * and the upstream sees the call still pending cancelled. Every case runs both deadlines at once, and
 * the cases run concurrently: the file takes about as long as its longest wait.
 */
import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, startHarness } from './support/harness.js';
import { startGatewayProcess } from './support/process.js';
import { REDIS_MISSING, type RedisProcess, startRedis } from './support/redis.js';
import { type CancelledRequest, startTestUpstream, type TestUpstream } from './support/test-upstream.js';
import { until } from './support/until.js';

/** The margin the README promises past LEADGRAPH_REQUEST_TIMEOUT_MS (section "The request deadline"). */
const MARGIN_MS = 1_000;
const DEADLINES = [20_000, 30_000] as const;
/** Every per-attempt timeout here is longer than any deadline, so only the deadline can end a request. */
const NO_ATTEMPT_TIMEOUT = { LEADGRAPH_UPSTREAM_TIMEOUT_MS: '120000' };
const LEADS = '{ leads(first: 3) { edges { node { kommoId } } } }';

interface Body {
  data?: Record<string, unknown> | null;
  errors?: { message: string; path?: (string | number)[]; extensions?: { code?: string } }[];
}

interface Timed {
  readonly body: Body;
  /** When the request was sent, and how long until its whole answer had arrived. */
  readonly started: number;
  readonly elapsedMs: number;
}

/** Posts `query` and times the whole answer; the test's own bound is well past the deadline and its margin. */
async function timed(url: string, query: string, deadlineMs: number): Promise<Timed> {
  const started = Date.now();
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json' },
    body: JSON.stringify({ query }),
    signal: AbortSignal.timeout(deadlineMs + 10_000),
  });
  const body = (await response.json()) as Body;
  return { body, started, elapsedMs: Date.now() - started };
}

/** One answered request first, so the timed one finds its connection open (a cold start under load is not the gateway's lateness). */
async function warm(url: string): Promise<void> {
  await (await fetch(url.replace('/graphql', '/health'), { signal: AbortSignal.timeout(10_000) })).text();
}

const sleepUntil = (at: number) => new Promise((resolve) => setTimeout(resolve, Math.max(0, at - Date.now())));

type Annotate = (message: string) => Promise<unknown>;

/** Ended by the deadline: not before it, and within the margin after it. The time goes into the test's annotations. */
async function expectAtDeadline({ elapsedMs }: Timed, deadlineMs: number, annotate: Annotate, what: string): Promise<void> {
  await annotate(`${what}: deadline ${deadlineMs / 1000} s, answered at ${(elapsedMs / 1000).toFixed(2)} s`);
  expect(elapsedMs).toBeGreaterThanOrEqual(deadlineMs - 10);
  expect(elapsedMs).toBeLessThanOrEqual(deadlineMs + MARGIN_MS);
}

function expectTimedOut({ body }: Timed): void {
  expect(body.errors?.length).toBeGreaterThan(0);
  for (const error of body.errors ?? []) {
    expect(error.extensions?.code).toBe('UPSTREAM_TIMEOUT');
    expect(error.message).toMatch(/ran out of time \(LEADGRAPH_REQUEST_TIMEOUT_MS\)/);
  }
}

/** The upstream saw a call to `endpoint` cancelled at the request's deadline (within the margin). */
async function expectCancelledAtDeadline(demo: TestUpstream, endpoint: string, { started }: Timed, deadlineMs: number): Promise<void> {
  const atDeadline = (entry: CancelledRequest) => entry.endpoint === endpoint && entry.closedAt - started >= deadlineMs - 10;
  await until(() => demo.cancelled.some(atDeadline), MARGIN_MS, `the upstream seeing its ${endpoint} call cancelled`);
  const cancelled = demo.cancelled.find(atDeadline) as CancelledRequest;
  expect(cancelled.closedAt - started).toBeLessThanOrEqual(deadlineMs + MARGIN_MS);
  await until(() => demo.inFlight === 0, MARGIN_MS, 'nothing left in flight upstream');
}

describe('the request deadline, end to end at 20 s and 30 s', () => {
  const closers: (() => Promise<unknown>)[] = [];
  const children: ChildProcess[] = [];
  let collector: NodeJS.Timeout | undefined;
  beforeAll(() => {
    // The deadline once got lost with a garbage collection (src/deadline.ts): keep collecting while requests wait.
    const gc = (globalThis as { gc?: () => void }).gc;
    if (gc) collector = setInterval(gc, 1_000);
  });
  afterAll(async () => {
    clearInterval(collector);
    for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
    await Promise.allSettled(closers.map((close) => close()));
  });

  const upstream = async (): Promise<TestUpstream> => {
    const demo = await startTestUpstream({ leads: 30 });
    closers.push(() => demo.close());
    return demo;
  };
  const gateway = async (demo: TestUpstream, deadlineMs: number, env: Record<string, string> = {}): Promise<Harness> => {
    const harness = await startHarness({
      upstream: demo,
      env: { ...NO_ATTEMPT_TIMEOUT, LEADGRAPH_REQUEST_TIMEOUT_MS: String(deadlineMs), ...env },
    });
    closers.unshift(() => harness.close());
    await warm(harness.url);
    return harness;
  };

  it.concurrent('a hanging upstream: the gateway process answers UPSTREAM_TIMEOUT at the deadline and cancels the call', async ({
    annotate,
  }) => {
    await Promise.all(
      DEADLINES.map(async (deadlineMs) => {
        const demo = await upstream();
        demo.setFaults([{ kind: 'hang' }]);
        const { child, url } = await startGatewayProcess(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
          V4_CLIENT_ID: demo.clientId,
          V4_CLIENT_SECRET: demo.clientSecret,
          V4_WORKSPACE_ID: demo.workspaceId,
          V4_API_URL: demo.url,
          LEADGRAPH_REQUEST_TIMEOUT_MS: String(deadlineMs),
          ...NO_ATTEMPT_TIMEOUT,
        });
        children.push(child);
        await warm(url);
        const answer = await timed(url, LEADS, deadlineMs);
        await expectAtDeadline(answer, deadlineMs, annotate, 'hanging upstream, gateway process');
        expectTimedOut(answer);
        expect(answer.body.data).toBeNull();
        await expectCancelledAtDeadline(demo, 'leads', answer, deadlineMs);
        expect(demo.count('leads')).toBe(1);
      }),
    );
  });

  it.concurrent('a hanging reference table: the leads that arrived are answered at the deadline, their pipelines null', async ({
    annotate,
  }) => {
    await Promise.all(
      DEADLINES.map(async (deadlineMs) => {
        const demo = await upstream();
        demo.setFaults([{ kind: 'hang', endpoints: ['pipelines'] }]);
        const harness = await gateway(demo, deadlineMs);
        const answer = await timed(harness.url, '{ leads(first: 3) { edges { node { kommoId pipeline { name } } } } }', deadlineMs);
        await expectAtDeadline(answer, deadlineMs, annotate, 'hanging pipelines table, partial data');
        expectTimedOut(answer);
        const node = (kommoId: string) => ({ node: { kommoId, pipeline: null } });
        expect(answer.body.data).toEqual({ leads: { edges: [node('20000001'), node('20000002'), node('20000003')] } });
        expect(answer.body.errors?.every((error) => error.path?.at(-1) === 'pipeline')).toBe(true);
        await expectCancelledAtDeadline(demo, 'pipelines', answer, deadlineMs);
      }),
    );
  });

  it.concurrent('slow failing attempts and their retries: the attempt in flight at the deadline is cancelled, no attempt follows a Retry-After past it', async ({
    annotate,
  }) => {
    const slowFailure = DEADLINES.map(async (deadlineMs) => {
      // Every attempt answers 503 after 3.5 s; 11 attempts would take 38.5 s.
      const demo = await upstream();
      demo.setFaults([{ kind: 'error', status: 503, delayMs: 3_500 }]);
      const harness = await gateway(demo, deadlineMs, { LEADGRAPH_UPSTREAM_RETRIES: '10', LEADGRAPH_RETRY_BACKOFF_MS: '1' });
      const answer = await timed(harness.url, LEADS, deadlineMs);
      await expectAtDeadline(answer, deadlineMs, annotate, 'slow 503 attempts with retries');
      expectTimedOut(answer);
      await expectCancelledAtDeadline(demo, 'leads', answer, deadlineMs);
      expect(demo.requests.map((request) => request.status)).toEqual(Array(Math.floor(deadlineMs / 3_500)).fill(503));
    });
    const retryAfter = DEADLINES.map(async (deadlineMs) => {
      // Every attempt answers 429 with Retry-After: 8 at once: attempts at 0, 8, 16 (and 24) s, all answered.
      const demo = await upstream();
      demo.setFaults([{ kind: 'rate-limit', retryAfterSeconds: 8 }]);
      const harness = await gateway(demo, deadlineMs, { LEADGRAPH_UPSTREAM_RETRIES: '10', LEADGRAPH_RATE_MAX_WAIT_MS: '60000' });
      const answer = await timed(harness.url, LEADS, deadlineMs);
      await expectAtDeadline(answer, deadlineMs, annotate, '429s with Retry-After 8 s');
      expectTimedOut(answer);
      const attempts = Math.ceil(deadlineMs / 8_000);
      expect(demo.count('leads')).toBe(attempts);
      // The next attempt would have gone out 8 s after the last one: past it, there is none.
      await sleepUntil(answer.started + attempts * 8_000 + 500);
      expect(demo.count('leads')).toBe(attempts);
      expect(demo.cancelled).toEqual([]);
    });
    await Promise.all([...slowFailure, ...retryAfter]);
  });

  it.concurrent('a request queued for a budget slot past its deadline: UPSTREAM_TIMEOUT at the deadline, no call made', async ({
    annotate,
  }) => {
    await Promise.all(
      DEADLINES.map(async (deadlineMs) => {
        const demo = await upstream();
        // One call a minute, and a wait for a slot allowed well past the deadline.
        const harness = await gateway(demo, deadlineMs, { LEADGRAPH_V4_RATE_PER_MIN: '1', LEADGRAPH_RATE_MAX_WAIT_MS: '120000' });
        const first = await timed(harness.url, '{ pipelines { name } }', deadlineMs);
        expect(first.body.errors).toBeUndefined();
        expect(demo.count()).toBe(1);
        const answer = await timed(harness.url, LEADS, deadlineMs);
        await expectAtDeadline(answer, deadlineMs, annotate, 'waiting for a budget slot');
        expectTimedOut(answer);
        expect(demo.count()).toBe(1);
      }),
    );
  });

  /** Two replicas of one upstream and one Redis: `holder` fetches a hanging page under the lock, `waiter` asks for it next. */
  const replicas = async (redis: RedisProcess, holderDeadlineMs: number, waiterDeadlineMs: number) => {
    const demo = await upstream();
    demo.setFaults([{ kind: 'hang', endpoints: ['leads'] }]);
    // The fetch lock lasts LEADGRAPH_UPSTREAM_TIMEOUT_MS (120 s here): only the deadlines end the wait.
    const env = { LEADGRAPH_REDIS_URL: redis.url, LEADGRAPH_CACHE_TTL_LEADS_SECONDS: '600', LEADGRAPH_RESPONSE_CACHE_ENTRIES: '0' };
    const [holder, waiter] = await Promise.all([gateway(demo, holderDeadlineMs, env), gateway(demo, waiterDeadlineMs, env)]);
    for (const replica of [holder, waiter]) {
      const ready = replica.url.replace('/graphql', '/ready');
      await until(async () => ((await (await fetch(ready)).json()) as { redis: string }).redis === 'up', 10_000, 'Redis up');
    }
    const holding = timed(holder.url, LEADS, holderDeadlineMs);
    await until(() => demo.inFlight === 1, 5_000, 'the holder fetching');
    return { demo, holding, waiting: timed(waiter.url, LEADS, waiterDeadlineMs) };
  };

  it.skipIf(REDIS_MISSING !== null).concurrent(
    `a replica waiting on the fetch lock of a hanging holder answers at its own deadline, or takes the lock over when the holder ends first${REDIS_MISSING ? ` (skipped: ${REDIS_MISSING})` : ''}`,
    async ({ annotate }) => {
      const redis = await startRedis();
      closers.push(() => redis.stop());
      const waitsThroughout = async () => {
        // The holder has 30 s, the waiter 20 s: the waiter waits on the lock until its deadline, making no call.
        const { demo, holding, waiting } = await replicas(redis, 30_000, 20_000);
        const waited = await waiting;
        await expectAtDeadline(waited, 20_000, annotate, 'replica waiting on the fetch lock');
        expectTimedOut(waited);
        expect([demo.count('leads'), demo.inFlight, demo.cancelled.length]).toEqual([1, 1, 0]);
        const held = await holding;
        await expectAtDeadline(held, 30_000, annotate, 'replica holding the fetch lock');
        expectTimedOut(held);
        await expectCancelledAtDeadline(demo, 'leads', held, 30_000);
        expect(demo.count('leads')).toBe(1);
      };
      const takesOver = async () => {
        // The holder has 20 s, the waiter 30 s: the holder's cancelled fetch releases the lock, the waiter fetches itself.
        const { demo, holding, waiting } = await replicas(redis, 20_000, 30_000);
        const held = await holding;
        await expectAtDeadline(held, 20_000, annotate, 'replica holding the fetch lock');
        expectTimedOut(held);
        await until(() => demo.count('leads') === 2, MARGIN_MS, 'the waiter fetching once the lock was released');
        expect(demo.cancelled.map((entry) => entry.endpoint)).toEqual(['leads']);
        const waited = await waiting;
        await expectAtDeadline(waited, 30_000, annotate, 'replica that took the fetch lock over');
        expectTimedOut(waited);
        await until(() => demo.cancelled.length === 2, MARGIN_MS, "the waiter's own fetch cancelled");
        expect((demo.cancelled[1] as CancelledRequest).closedAt - waited.started).toBeLessThanOrEqual(30_000 + MARGIN_MS);
        expect(demo.inFlight).toBe(0);
      };
      await Promise.all([waitsThroughout(), takesOver()]);
    },
  );
});
