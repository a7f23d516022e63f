/**
 * `leadStats` against the test upstream on loopback, once the tenant's lead index is ready: every
 * grouping, with and without filters, in UTC and in another zone, compared with sums computed here
 * straight from the upstream's own records; errors for an unknown zone and with the index off; and no
 * upstream call for any of it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DemoLead } from '../src/demo/data.js';
import { type Harness, startHarness } from './support/harness.js';
import { until } from './support/until.js';

interface Group {
  key: string;
  count: number;
  totalPrice: number;
  periodStart?: string | null;
  pipeline?: { kommoId: string } | null;
  status?: { kommoId: string } | null;
  user?: { kommoId: string } | null;
  tag?: { kommoId: string } | null;
}
interface Body {
  data?: { leadStats: { count: number; totalPrice: number; averagePrice: number | null; dataAsOf: string | null; groups: Group[] } } | null;
  errors?: { message: string; extensions?: { code?: string; retryAfter?: number } }[];
}

/** The gateway's reading of a lead, from the upstream's record: user 0 is nobody; a lost creation time is the update time. */
const view = (lead: DemoLead) => ({
  price: lead.price ?? 0,
  pipelineId: String(lead.pipelineId),
  statusId: String(lead.statusId),
  userId: lead.responsibleUserId === 0 ? '' : String(lead.responsibleUserId),
  tagIds: [...new Set(lead.tags.map((tag) => String(tag.id)))],
  createdAt: lead.createdAt ?? lead.updatedAt,
  closedAt: lead.closedAt,
});

const DAY = 86_400_000;

/** An incremental read of the index: what changed since its watermark (V4 and Kommo). */
const isRefresh = (query: Readonly<Record<string, string>>): boolean =>
  query.lastModifiedStart !== undefined || query['filter[updated_at][from]'] !== undefined;

/** The first day of the period holding an instant, in a zone, as YYYY-MM-DD: Intl's calendar, independently of the gateway's. */
function periodKey(time: Date, zone: string, period: 'DAY' | 'WEEK' | 'MONTH'): string {
  const local = new Intl.DateTimeFormat('en-CA', { timeZone: zone, year: 'numeric', month: '2-digit', day: '2-digit' }).format(time);
  if (period === 'DAY') return local;
  if (period === 'MONTH') return `${local.slice(0, 8)}01`;
  const date = new Date(`${local}T00:00:00Z`);
  const monday = new Date(date.getTime() - ((date.getUTCDay() + 6) % 7) * DAY);
  return monday.toISOString().slice(0, 10);
}

function expectedGroups(leads: readonly DemoLead[], keyOf: (lead: ReturnType<typeof view>) => string[]): Group[] {
  const groups = new Map<string, { count: number; totalPrice: number }>();
  for (const lead of leads) {
    const seen = view(lead);
    for (const key of keyOf(seen)) {
      const group = groups.get(key) ?? { count: 0, totalPrice: 0 };
      group.count += 1;
      group.totalPrice += seen.price;
      groups.set(key, group);
    }
  }
  return [...groups.entries()]
    .map(([key, group]) => ({ key, ...group }))
    .sort((a, b) => b.count - a.count || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

describe.each(['v4', 'kommo'] as const)('leadStats on the %s source', (api) => {
  let harness: Harness;
  const ask = async (query: string, variables?: Record<string, unknown>): Promise<Body> =>
    (await (await harness.post({ query, variables })).json()) as Body;

  beforeAll(async () => {
    harness = await startHarness({
      api,
      demo: { leads: 900, seed: 31 },
      env: { LEADGRAPH_INDEX: 'on', LEADGRAPH_INDEX_REFRESH_SECONDS: '1' },
    });
    await harness.post({ query: '{ pipelines { name } }' }); // a tenant's index starts with its first request
    const ready = harness.url.replace('/graphql', '/ready');
    await until(
      async () => ((await (await fetch(ready)).json()) as { index: { state: string } }).index.state === 'ready',
      10_000,
      'index ready',
    );
  });
  afterAll(() => harness.close());

  /** The leads the gateway serves on this source: Kommo lists no deleted lead the index could have seen. */
  const live = (): DemoLead[] => harness.demo.account.leads.filter((lead) => !lead.isDeleted);

  const GROUPS = `query Stats($filter: LeadFilter, $by: LeadGrouping!, $period: LeadPeriod, $zone: String) {
    leadStats(filter: $filter) { count totalPrice averagePrice dataAsOf
      groups(by: $by, period: $period, timeZone: $zone) { key count totalPrice periodStart
        pipeline { kommoId } status { kommoId } user { kommoId } tag { kommoId } } } }`;

  const cases: [string, Record<string, unknown>, (lead: DemoLead) => boolean][] = [
    ['no filter', {}, () => true],
    ['a pipeline and a price range', { pipelineId: '', price: { min: 1000, max: 30000 } }, () => true],
    ['a tag name, case-insensitively', { tagName: 'VIP' }, (lead) => lead.tags.some((tag) => tag.name.toLowerCase() === 'vip')],
  ];

  for (const [name, rawFilter, keep] of cases) {
    for (const [by, period, zone, keyOf] of [
      ['PIPELINE', 'MONTH', 'UTC', (lead) => [lead.pipelineId]],
      ['STATUS', 'MONTH', 'UTC', (lead) => [`${lead.pipelineId}:${lead.statusId}`]],
      ['RESPONSIBLE_USER', 'MONTH', 'UTC', (lead) => [lead.userId]],
      ['TAG', 'MONTH', 'UTC', (lead) => (lead.tagIds.length === 0 ? [''] : lead.tagIds)],
      ['CREATED_PERIOD', 'MONTH', 'UTC', (lead) => [periodKey(lead.createdAt, 'UTC', 'MONTH')]],
      ['CREATED_PERIOD', 'WEEK', 'America/Sao_Paulo', (lead) => [periodKey(lead.createdAt, 'America/Sao_Paulo', 'WEEK')]],
      ['CLOSED_PERIOD', 'DAY', 'Asia/Kolkata', (lead) => [lead.closedAt ? periodKey(lead.closedAt, 'Asia/Kolkata', 'DAY') : '']],
      [
        'CLOSED_PERIOD',
        'MONTH',
        'America/Sao_Paulo',
        (lead) => [lead.closedAt ? periodKey(lead.closedAt, 'America/Sao_Paulo', 'MONTH') : ''],
      ],
    ] as [string, string, string, (lead: ReturnType<typeof view>) => string[]][]) {
      it(`${by} by ${period} in ${zone}, ${name}: the upstream's own sums, with no upstream call`, async () => {
        const mainPipeline = harness.demo.account.pipelines[0]?.id;
        const filter = 'pipelineId' in rawFilter ? { ...rawFilter, pipelineId: String(mainPipeline) } : rawFilter;
        const selected = live().filter(
          (lead) =>
            keep(lead) &&
            (!('pipelineId' in rawFilter) || (lead.pipelineId === mainPipeline && (lead.price ?? 0) >= 1000 && (lead.price ?? 0) <= 30000)),
        );
        harness.demo.reset();
        const body = await ask(GROUPS, { filter, by, period, zone });
        expect(body.errors).toBeUndefined();
        const stats = body.data?.leadStats;
        // Only the index's own refreshes (every second here) reach the upstream.
        expect(harness.demo.requests.filter((request) => !isRefresh(request.query))).toEqual([]);
        expect(stats?.count).toBe(selected.length);
        const total = selected.reduce((sum, lead) => sum + (lead.price ?? 0), 0);
        expect(stats?.totalPrice).toBeCloseTo(total, 6);
        expect(stats?.averagePrice ?? null).toBe(selected.length === 0 ? null : (stats?.totalPrice as number) / selected.length);
        expect(stats?.dataAsOf).toEqual(expect.any(String));
        const groups = stats?.groups ?? [];
        expect(groups.map(({ key, count }) => ({ key, count }))).toEqual(
          expectedGroups(selected, keyOf).map(({ key, count }) => ({ key, count })),
        );
        const expected = expectedGroups(selected, keyOf);
        for (const [i, group] of groups.entries()) expect(group.totalPrice).toBeCloseTo(expected[i]?.totalPrice as number, 6);
        // Each group names what it groups.
        for (const group of groups) {
          if (group.key === '') continue;
          if (by === 'PIPELINE') expect(group.pipeline?.kommoId).toBe(group.key);
          if (by === 'STATUS') expect(`${group.pipeline?.kommoId}:${group.status?.kommoId}`).toBe(group.key);
          if (by === 'RESPONSIBLE_USER' && group.user) expect(group.user.kommoId).toBe(group.key);
          if (by === 'TAG') expect(group.tag?.kommoId).toBe(group.key);
          if (by.endsWith('_PERIOD')) {
            // The period's first instant, in the zone: that day's local midnight.
            const start = new Date(group.periodStart as string);
            expect(periodKey(start, zone, 'DAY')).toBe(group.key);
            expect(periodKey(new Date(start.getTime() - 1), zone, 'DAY')).not.toBe(group.key);
          }
        }
      });
    }
  }

  it('puts a lead created at 01:00 UTC on the 1st of a month in the previous month in America/Sao_Paulo', async () => {
    const at = new Date(Date.UTC(2026, 9, 1, 1, 0, 0)); // 2026-10-01T01:00Z is Sep 30, 22:00 in São Paulo
    const created = harness.demo.insertLead({ name: 'Midnight edge', price: 777, createdAt: at, tags: [] });
    const ready = async () =>
      ((await ask('{ leadStats(filter: { search: "Midnight edge" }) { count } }')).data?.leadStats.count ?? 0) === 1;
    await until(ready, 5000, 'the inserted lead in the index');
    const body = await ask(
      `{ utc: leadStats(filter: { search: "Midnight edge" }) { groups(by: CREATED_PERIOD) { key periodStart } }
         sp: leadStats(filter: { search: "Midnight edge" }) { groups(by: CREATED_PERIOD, timeZone: "America/Sao_Paulo") { key periodStart } } }`,
    );
    expect(body.errors).toBeUndefined();
    const data = body.data as unknown as Record<'utc' | 'sp', { groups: Group[] }>;
    expect(data.utc.groups).toEqual([{ key: '2026-10-01', periodStart: '2026-10-01T00:00:00.000Z' }]);
    expect(data.sp.groups).toEqual([{ key: '2026-09-01', periodStart: '2026-09-01T03:00:00.000Z' }]);
    harness.demo.vanishLead(created.id);
  });

  it('refuses an unknown time zone naming it, and a bad filter, before anything runs', async () => {
    const unknown = await ask('{ leadStats { groups(by: CREATED_PERIOD, timeZone: "Mars/Olympus") { key } } }');
    expect(unknown.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    expect(unknown.errors?.[0]?.message).toContain('"Mars/Olympus"');
    const long = await ask('query($z: String) { leadStats { groups(by: TAG, timeZone: $z) { key } } }', { z: 'x'.repeat(5000) });
    expect(long.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    expect((long.errors?.[0]?.message.length ?? 0) < 300).toBe(true);
    const price = await ask('{ leadStats(filter: { price: { min: 5, max: 1 } }) { count } }');
    expect(price.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    const first = await ask('{ leadStats { groups(by: TAG, first: -1) { key } } }');
    expect(first.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
  });

  it('cuts the groups at `first`, the largest first', async () => {
    const all = await ask('{ leadStats { groups(by: TAG) { key count } } }');
    const top = await ask('{ leadStats { groups(by: TAG, first: 2) { key count } } }');
    expect(top.data?.leadStats.groups).toEqual(all.data?.leadStats.groups.slice(0, 2));
  });
});

describe('leadStats without the index', () => {
  it('says the index is off (LEADGRAPH_INDEX=off), with no upstream call', async () => {
    const harness = await startHarness({ demo: { leads: 50 } });
    try {
      harness.demo.reset();
      const body = (await (await harness.post({ query: '{ leadStats { count } }' })).json()) as Body;
      expect(body.errors?.[0]?.extensions?.code).toBe('INDEX_UNAVAILABLE');
      expect(body.errors?.[0]?.message).toContain('LEADGRAPH_INDEX=off');
      expect(harness.demo.requests).toEqual([]);
    } finally {
      await harness.close();
    }
  });

  it('waits for a first read, then answers INDEX_NOT_READY with retryAfter', async () => {
    const harness = await startHarness({
      demo: { leads: 50, latencyMs: 3000 },
      env: { LEADGRAPH_INDEX: 'on', LEADGRAPH_INDEX_WAIT_MS: '300' },
    });
    try {
      const started = Date.now();
      const body = (await (await harness.post({ query: '{ leadStats { count } }' })).json()) as Body;
      expect(body.errors?.[0]?.extensions?.code).toBe('INDEX_NOT_READY');
      expect(body.errors?.[0]?.extensions?.retryAfter).toBeGreaterThanOrEqual(1);
      // The wait happens after the read that proves the credentials (the pipelines, 3 s here) in multi-tenant mode only.
      expect(Date.now() - started).toBeLessThan(2500);
    } finally {
      await harness.close();
    }
  });
});
