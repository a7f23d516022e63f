/**
 * The lead index across three gateway replicas sharing one Redis (a real redis-server on loopback): one
 * replica reads the upstream for the tenant, the others replay the pages it published; refreshes go the
 * same way; when the leader goes, another takes over; when Redis goes, each reads by itself.
 */
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { expectedLeads, type Harness, startHarness } from './support/harness.js';
import { REDIS_MISSING, type RedisProcess, startRedis } from './support/redis.js';
import { sse } from './support/sse.js';
import { startTestUpstream, type TestUpstream } from './support/test-upstream.js';
import { until } from './support/until.js';

interface ReadyBody {
  redis: string;
  index?: { state: string; roles?: Record<'leader' | 'follower' | 'solo', number> };
}
interface TopLeads {
  data?: { leads: { totalCount: number; edges: { node: { kommoId: string; price: number } }[] } } | null;
  errors?: unknown[];
}

const TOP = '{ leads(first: 50, orderBy: { field: PRICE, direction: DESC }) { totalCount edges { node { kommoId price } } } }';
const REFRESH_SECONDS = 1;

const readyOf = async (replica: Harness): Promise<ReadyBody> =>
  (await (await fetch(replica.url.replace('/graphql', '/ready'))).json()) as ReadyBody;
const top = async (replica: Harness): Promise<TopLeads> => (await (await replica.post({ query: TOP })).json()) as TopLeads;
const leadCalls = (demo: TestUpstream): number => demo.count('leads');
const allCalls = (demo: TestUpstream): number => demo.count('leads') + demo.count('pipelines') + demo.count('users');

describe.skipIf(REDIS_MISSING !== null)(
  `the lead index of three replicas sharing Redis${REDIS_MISSING ? ` (skipped: ${REDIS_MISSING})` : ''}`,
  () => {
    let redis: RedisProcess;
    let demo: TestUpstream;
    let replicas: Harness[] = [];

    const start = async (count: number): Promise<Harness[]> => {
      const started = await Promise.all(
        Array.from({ length: count }, () =>
          startHarness({
            upstream: demo,
            env: {
              LEADGRAPH_INDEX: 'on',
              LEADGRAPH_REDIS_URL: redis.url,
              LEADGRAPH_INDEX_REFRESH_SECONDS: String(REFRESH_SECONDS),
              // Small values: a 5000-row page goes through Redis in several chunks.
              LEADGRAPH_REDIS_MAX_VALUE_KB: '64',
            },
          }),
        ),
      );
      replicas.push(...started);
      // Any request starts the tenant's index.
      await Promise.all(started.map((replica) => replica.post({ query: '{ __typename }' })));
      for (const replica of started) await until(async () => (await readyOf(replica)).index?.state === 'ready', 30_000, 'index ready');
      return started;
    };
    const roles = async (of: readonly Harness[]) => Promise.all(of.map(async (replica) => (await readyOf(replica)).index?.roles));

    beforeAll(async () => {
      redis = await startRedis();
      // About 30,000 V4 rows: several 5000-row pages.
      demo = await startTestUpstream({ leads: 12_000, seed: 13 });
    });
    afterEach(async () => {
      await Promise.all(replicas.map((replica) => replica.close()));
      replicas = [];
      demo.reset();
      await redis.stop();
      await redis.start();
    });
    afterAll(async () => {
      await redis?.stop();
      await demo?.close();
    });

    it('read the upstream once for three, serve the same leads from each, share refreshes, and survive the leader', async () => {
      // One replica alone: what a tenant's first read costs.
      const [alone] = (await start(1)) as [Harness];
      const one = allCalls(demo);
      await alone.close();
      replicas = [];
      const flush = new Redis(redis.url);
      await flush.flushall();
      flush.disconnect();
      demo.reset();

      const three = await start(3);
      const threeCalls = allCalls(demo);
      console.log(`upstream calls to a ready index: one replica ${one}, three replicas ${threeCalls}`);
      expect(one).toBeGreaterThanOrEqual(3);
      // The leader's refreshes go on while the followers replay: a refresh a second at most.
      expect(threeCalls).toBeLessThanOrEqual(one + 3);
      expect((await roles(three)).map((counts) => counts?.leader ?? 0).sort()).toEqual([0, 0, 1]);

      // Every replica answers the same leads, from its own copy.
      demo.reset();
      const answers = await Promise.all(three.map(top));
      expect(demo.count()).toBe(0);
      expect(answers[0]?.errors).toBeUndefined();
      expect(answers[0]?.data?.leads.totalCount).toBe(expectedLeads(demo).length);
      expect(answers[1]).toEqual(answers[0]);
      expect(answers[2]).toEqual(answers[0]);

      // A change upstream reaches all three within the refresh interval and a few seconds, read by one replica.
      const target = demo.account.leads[100] as { id: number };
      demo.reset();
      const changedAt = Date.now();
      demo.updateLead(target.id, { price: 987_654_321 });
      const shows = async (replica: Harness, price: number): Promise<boolean> => {
        const first = (await top(replica)).data?.leads.edges[0]?.node;
        return first?.kommoId === String(target.id) && first.price === price;
      };
      await until(
        async () => (await Promise.all(three.map((replica) => shows(replica, 987_654_321)))).every(Boolean),
        8_000,
        'the change on every replica',
      );
      const seconds = (Date.now() - changedAt) / 1000;
      const calls = leadCalls(demo);
      console.log(`the change reached three replicas in ${seconds} s with ${calls} leads calls`);
      // One replica refreshing once a second, plus one refresh in flight at each end.
      expect(calls).toBeLessThanOrEqual(Math.ceil(seconds / REFRESH_SECONDS) + 2);

      // The leader goes: another replica takes over the refreshes.
      const leaderAt = (await roles(three)).findIndex((counts) => counts?.leader === 1);
      const leader = three[leaderAt] as Harness;
      const rest = three.filter((replica) => replica !== leader);
      await leader.close();
      replicas = replicas.filter((replica) => replica !== leader);
      await until(async () => (await roles(rest)).filter((counts) => counts?.leader === 1).length === 1, 10_000, 'a new leader');
      demo.reset();
      demo.updateLead(target.id, { price: 987_654_322 });
      await until(
        async () => (await Promise.all(rest.map((replica) => shows(replica, 987_654_322)))).every(Boolean),
        8_000,
        'the change after the takeover',
      );
      expect(leadCalls(demo)).toBeGreaterThan(0);
      const metrics = await (await fetch((rest[0] as Harness).url.replace('/graphql', '/metrics'))).text();
      expect(metrics).toMatch(/leadgraph_index_role\{tenant="[^"]+",role="(leader|follower)"\} 1/);
    });

    it('read by themselves, and serve correct leads, while Redis is down', async () => {
      const three = await start(3);
      await redis.stop();
      await until(
        async () => (await Promise.all(three.map(readyOf))).every((body) => body.redis === 'down'),
        10_000,
        'Redis down everywhere',
      );
      const target = demo.account.leads[7] as { id: number };
      demo.updateLead(target.id, { price: 999_999_999 });
      await until(
        async () => (await Promise.all(three.map(top))).every((body) => body.data?.leads.edges[0]?.node.kommoId === String(target.id)),
        8_000,
        'the change on every replica without Redis',
      );
      expect((await roles(three)).every((counts) => counts?.solo === 1)).toBe(true);
    });
    it('deliver each change once to a subscriber on either of two replicas, whichever replica read it', async () => {
      const two = await start(2);
      const subscribers = two.map((replica) => sse(replica));
      await until(
        async () =>
          (
            await Promise.all(
              two.map(async (replica) =>
                (await (await fetch(replica.url.replace('/graphql', '/metrics'))).text()).includes('leadgraph_subscriptions_live 1'),
              ),
            )
          ).every(Boolean),
        5000,
        'a subscriber on each replica',
      );
      const created = demo.insertLead({ name: 'Seen by both', price: 4321, tags: [] });
      const id = String(created.id);
      await until(() => subscribers.every((one) => one.changes.some((change) => change.lead.kommoId === id)), 10_000, 'CREATED on both');
      demo.updateLead(created.id, { price: 1 });
      await until(() => subscribers.every((one) => one.changes.some((change) => change.kind === 'UPDATED')), 10_000, 'UPDATED on both');
      // A few more refreshes: nothing arrives twice.
      await new Promise((resolve) => setTimeout(resolve, 3 * REFRESH_SECONDS * 1000));
      for (const one of subscribers) {
        expect(one.changes.filter((change) => change.lead.kommoId === id).map((change) => change.kind)).toEqual(['CREATED', 'UPDATED']);
        expect(one.changes.find((change) => change.kind === 'UPDATED')?.changedFields).toContain('price');
        expect(one.errors).toEqual([]);
        one.close();
      }
      demo.vanishLead(created.id);
    });
  },
);
