/**
 * Three gateway replicas sharing one Redis (a real redis-server on loopback): one upstream budget in
 * total, one cache, and correct answers from every replica when Redis goes away.
 */
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createMetrics } from '../src/metrics.js';
import { createRateLimiter } from '../src/transport/limiter.js';
import { createSharedRateLimiter, createSharedStore } from '../src/transport/shared.js';
import { type Harness, startHarness } from './support/harness.js';
import { REDIS_MISSING, type RedisProcess, startRedis } from './support/redis.js';
import { startTestUpstream, type TestUpstream } from './support/test-upstream.js';
import { until } from './support/until.js';

interface Body {
  data?: Record<string, unknown> | null;
  errors?: { extensions?: { code?: string } }[];
}
const ask = async (harness: Harness, query: string): Promise<Body> => (await (await harness.post({ query })).json()) as Body;

describe.skipIf(REDIS_MISSING !== null)(`three replicas sharing Redis${REDIS_MISSING ? ` (skipped: ${REDIS_MISSING})` : ''}`, () => {
  let redis: RedisProcess;
  let demo: TestUpstream;
  let replicas: Harness[] = [];

  const startReplicas = async (env: Record<string, string>) => {
    replicas = await Promise.all(
      Array.from({ length: 3 }, () =>
        startHarness({
          upstream: demo,
          env: {
            LEADGRAPH_REDIS_URL: redis.url,
            LEADGRAPH_CACHE_TTL_LEADS_SECONDS: '600',
            LEADGRAPH_CACHE_TTL_REFERENCE_SECONDS: '600',
            ...env,
          },
        }),
      ),
    );
    for (const replica of replicas)
      await until(
        async () => ((await (await fetch(replica.url.replace('/graphql', '/ready'))).json()) as { redis: string }).redis === 'up',
        10_000,
        'Redis up on the replica',
      );
  };

  beforeAll(async () => {
    redis = await startRedis();
    demo = await startTestUpstream({ leads: 120, seed: 5 });
  });
  afterEach(async () => {
    await Promise.all(replicas.map((replica) => replica.close()));
    replicas = [];
    demo.enforceRateLimit(null);
    demo.setLatency(0);
    demo.reset();
    await redis.stop();
    await redis.start();
  });
  afterAll(async () => {
    await redis?.stop();
    await demo?.close();
  });

  it('spend no more than one budget in total, driven concurrently', async () => {
    demo.enforceRateLimit(12);
    await startReplicas({ LEADGRAPH_V4_RATE_PER_MIN: '12', LEADGRAPH_RATE_MAX_WAIT_MS: '200', LEADGRAPH_RESPONSE_CACHE_ENTRIES: '0' });
    const results = await Promise.all(
      Array.from({ length: 36 }, (_, i) => ask(replicas[i % 3] as Harness, `{ lead(kommoId: "${20000001 + i}") { kommoId } }`)),
    );
    expect(results.filter((body) => !body.errors)).toHaveLength(12);
    expect(results.filter((body) => body.errors?.[0]?.extensions?.code === 'UPSTREAM_RATE_LIMITED')).toHaveLength(24);
    expect(demo.count()).toBe(12);
    expect(demo.rateLimitViolations).toBe(0);
  });

  it('serve a page one replica fetched from another without an upstream call, and coalesce a miss across replicas', async () => {
    await startReplicas({ LEADGRAPH_RESPONSE_CACHE_ENTRIES: '0' });
    const query = '{ leads(first: 10) { edges { node { kommoId name pipeline { name } responsibleUser { name } } } } }';
    const [a, b, c] = replicas as [Harness, Harness, Harness];
    const first = await ask(a, query);
    expect(first.errors).toBeUndefined();
    expect([demo.count('leads'), demo.count('pipelines'), demo.count('users')]).toEqual([1, 1, 1]);
    demo.reset();
    expect(await ask(b, query)).toEqual(first);
    expect(await ask(c, query)).toEqual(first);
    expect(demo.count()).toBe(0);
    const metrics = await (await fetch(b.url.replace('/graphql', '/metrics'))).text();
    expect(metrics).toMatch(/leadgraph_cache_lookups_total\{class="leads",outcome="shared"\} 1/);
    expect(metrics).toMatch(/leadgraph_redis_up 1/);

    // A miss asked of all three at once is fetched once.
    demo.setLatency(150);
    const other = '{ leads(first: 5, filter: { pipelineId: "7000002" }) { edges { node { kommoId } } } }';
    const answers = await Promise.all(replicas.map((replica) => ask(replica, other)));
    expect(answers[1]).toEqual(answers[0]);
    expect(answers[2]).toEqual(answers[0]);
    expect(demo.count('leads')).toBe(1);
  });

  it('answer from local state, within the Redis timeout, while Redis is too slow', async () => {
    await startReplicas({ LEADGRAPH_REDIS_TIMEOUT_MS: '100' });
    const [a, b] = replicas as [Harness, Harness, Harness];
    const query = '{ leads(first: 3, filter: { pipelineId: "7000003" }) { edges { node { kommoId } } } }';
    const expected = await ask(a, query);
    // Block Redis for 1.5 s, as an overloaded one would be.
    const blocker = new Redis(redis.url);
    const blocked = blocker.call('DEBUG', 'SLEEP', '1.5').catch(() => undefined);
    await new Promise((resolve) => setTimeout(resolve, 50));
    const started = Date.now();
    expect(await ask(b, query)).toEqual(expected);
    expect(Date.now() - started).toBeLessThan(1_400);
    await blocked;
    blocker.disconnect();
  });

  it('keep serving correct data when Redis stops, say so, and share again when it is back', async () => {
    await startReplicas({});
    const query = (i: number) =>
      `{ leads(first: 5, filter: { responsibleUserId: "${9000001 + i}" }) { edges { node { kommoId responsibleUser { kommoId } } } } }`;
    const expected = await Promise.all(Array.from({ length: 6 }, (_, i) => ask(replicas[0] as Harness, query(i))));
    await redis.stop();
    for (const replica of replicas) {
      for (let i = 0; i < 6; i += 1) expect(await ask(replica, query(i))).toEqual(expected[i]);
      const ready = (await (await fetch(replica.url.replace('/graphql', '/ready'))).json()) as { status: string; redis: string };
      expect(ready).toMatchObject({ status: 'ready', redis: 'down' });
      expect(await (await fetch(replica.url.replace('/graphql', '/metrics'))).text()).toMatch(/leadgraph_redis_up 0/);
    }
    const fresh = await ask(replicas[2] as Harness, '{ lead(kommoId: "20000050") { kommoId } }');
    expect(fresh).toEqual({ data: { lead: { kommoId: '20000050' } } });
    expect(replicas.some((replica) => replica.logs.some((line) => line.includes('Redis is unreachable or slow')))).toBe(true);

    await redis.start();
    for (const replica of replicas)
      await until(
        async () => ((await (await fetch(replica.url.replace('/graphql', '/ready'))).json()) as { redis: string }).redis === 'up',
        10_000,
        'Redis up on the replica',
      );
  });

  it('give a reserved slot back when its caller goes away before it comes', async () => {
    const metrics = createMetrics();
    const store = createSharedStore({ url: redis.url, timeoutMs: 500, maxValueBytes: 1024, logger: pino({ level: 'silent' }), metrics });
    try {
      await until(() => store.up, 10_000, 'Redis up');
      const options = { limit: 1, windowMs: 10_000, maxWaitMs: 30_000 };
      const limiter = createSharedRateLimiter(store, options, createRateLimiter(options));
      const key = `release-${Date.now()}`;
      expect(await limiter.acquire(key)).toEqual({ waitedMs: 0 });
      // The second caller's slot is a window away; it leaves before it comes.
      const leaving = new AbortController();
      const second = limiter.acquire(key, leaving.signal).catch((error: unknown) => error);
      await new Promise((resolve) => setTimeout(resolve, 50));
      leaving.abort(new Error('gone'));
      expect(await second).toMatchObject({ message: 'gone' });
      await new Promise((resolve) => setTimeout(resolve, 50));
      // The next caller gets the slot the second gave back (one window after the first), not the one after it.
      const reserved = await store.reserve(key, options.limit, options.windowMs, options.maxWaitMs);
      expect(reserved?.waitMs).toBeGreaterThan(9_000);
      expect(reserved?.waitMs).toBeLessThanOrEqual(10_000);
    } finally {
      await store.close();
    }
  });
});
