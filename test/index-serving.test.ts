/**
 * The lead index served end to end over real HTTP on 127.0.0.1 (gateway + test upstream, V4 source):
 * every order both ways, every filter with its lead-level meaning, nested connections, lookups, and
 * what it costs the upstream (the first sync, idle refreshes, nothing for queries after the sync).
 * Expectations are computed from the upstream's rows, not from the gateway (support/index-expect.ts).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, startHarness } from './support/harness.js';
import {
  ask,
  type Connection,
  dataOf,
  type ExpectedLead,
  type FilterInput,
  idsOf,
  indexReady,
  leadsFromRows,
  matches,
  ORDER_FIELDS,
  sortLeads,
  walk,
} from './support/index-expect.js';
import { startTestUpstream, type TestUpstream } from './support/test-upstream.js';

const INDEX_ON = { LEADGRAPH_INDEX: 'on', LEADGRAPH_INDEX_REFRESH_SECONDS: '600' };
/** A tag of its own whose name equals the demo's `vip` (102) but for case. */
const VIP_TOO = { id: 114, name: 'Vip', color: '#aa00aa' };

let upstream: TestUpstream;
let harness: Harness;
let leads: ExpectedLead[];
const globalId = (type: string, id: string): string => Buffer.from(`${type}:${id}`).toString('base64');
const live = () => leads.filter((lead) => !lead.isDeleted);

beforeAll(async () => {
  upstream = await startTestUpstream({ leads: 700, seed: 23 });
  // Leads the generated data lacks: a second tag named "vip" in another case, alone and beside `hot`.
  upstream.insertLead({ name: 'MiXeD Case VIP', price: 125, tags: [VIP_TOO] });
  upstream.insertLead({ name: 'both tags', price: 125, tags: [{ id: 101, name: 'hot', color: '#ff0000' }, VIP_TOO] }, { at: 'head' });
  harness = await startHarness({ upstream, env: INDEX_ON });
  await indexReady(harness);
  leads = leadsFromRows(upstream.data.leadRows);
});
afterAll(async () => {
  await harness.close();
  await upstream.close();
});

describe('V4: every order, both directions, forward and backward', () => {
  for (const field of ORDER_FIELDS) {
    for (const direction of ['ASC', 'DESC'] as const) {
      it(`${field} ${direction} equals an independent sort of the upstream's rows, page by page either way`, async () => {
        const expected = idsOf(sortLeads(live(), field, direction));
        const orderBy = { field, direction };
        const forward = await walk(harness, 'forward', { orderBy, size: 97 });
        expect(forward.ids).toEqual(expected);
        const backward = await walk(harness, 'backward', { orderBy, size: 97 });
        expect(backward.ids).toEqual(expected);
        expect(new Set([...forward.totals, ...backward.totals])).toEqual(new Set([expected.length]));
      });
    }
  }

  it('without orderBy, the upstream order as synced; the default direction is ASC', async () => {
    expect((await walk(harness, 'forward', { size: 250 })).ids).toEqual(idsOf(live()));
    expect((await walk(harness, 'backward', { size: 120 })).ids).toEqual(idsOf(live()));
    const { body } = await ask(harness, '{ leads(first: 5, orderBy: { field: PRICE }) { edges { node { kommoId } } } }');
    expect(dataOf<{ leads: Connection }>(body).leads.edges.map((edge) => edge.node.kommoId)).toEqual(
      idsOf(sortLeads(live(), 'PRICE', 'ASC').slice(0, 5)),
    );
  });

  it('the data has what the orders must handle: ties, nulls (closedAt), mixed-case names', () => {
    const prices = live().map((lead) => lead.price);
    expect(new Set(prices).size).toBeLessThan(prices.length);
    expect(live().some((lead) => lead.closedAt === null)).toBe(true);
    expect(live().some((lead) => lead.closedAt !== null)).toBe(true);
    expect(live().some((lead) => lead.name === '')).toBe(true);
    expect(live().some((lead) => lead.name !== lead.name.toLowerCase())).toBe(true);
  });
});

/** A value that selects some leads but not all, from the data. */
function common<T>(values: readonly T[]): T {
  const counts = new Map<T, number>();
  for (const value of values) counts.set(value, (counts.get(value) ?? 0) + 1);
  return [...counts].sort((a, b) => b[1] - a[1])[0]?.[0] as T;
}

function filterCases(): [string, FilterInput][] {
  const all = live();
  const userId = common(all.map((lead) => lead.responsibleUserId));
  const created = all.map((lead) => lead.createdAt).sort((a, b) => a - b);
  const updated = all.map((lead) => lead.updatedAt).sort((a, b) => a - b);
  const closed = all.flatMap((lead) => (lead.closedAt === null ? [] : [lead.closedAt])).sort((a, b) => a - b);
  const iso = (values: number[], at: number) => new Date(values[Math.floor(values.length * at)] as number).toISOString();
  return [
    ['statusId with pipelineId', { pipelineId: '7000001', statusId: '142' }],
    ['statusId alone (142 in every pipeline)', { statusId: '143' }],
    ['pipelineId', { pipelineId: '7000002' }],
    ['responsibleUserId', { responsibleUserId: userId }],
    ['responsibleUserId of a user that no longer exists', { responsibleUserId: '9099999' }],
    ['groupId 0 (the main group)', { groupId: '0' }],
    ['groupId', { groupId: '302' }],
    ['lossReasonId', { lossReasonId: '501' }],
    ['tagId', { tagId: '101' }],
    ['tagName, case-insensitively (two tags named vip and Vip)', { tagName: 'VIP' }],
    ['tagId and tagName of different tags on one lead', { tagId: '101', tagName: 'vIp' }],
    ['createdAt from/to', { createdAt: { from: iso(created, 0.2), to: iso(created, 0.5) } }],
    ['createdAt open end', { createdAt: { from: iso(created, 0.9) } }],
    ['updatedAt from/to', { updatedAt: { from: iso(updated, 0.1), to: iso(updated, 0.3) } }],
    ['closedAt from/to', { closedAt: { from: iso(closed, 0.25), to: iso(closed, 0.75) } }],
    ['closedAt open start', { closedAt: { to: iso(closed, 0.5) } }],
    ['price min/max inclusive', { price: { min: 10_000, max: 20_000 } }],
    ['price exactly 125', { price: { min: 125, max: 125 } }],
    ['price max only', { price: { max: 0 } }],
    ['search, case-insensitively', { search: 'ONBOARDING for' }],
    ['search of a surname', { search: 'silva' }],
    ['includeDeleted', { includeDeleted: true }],
    ['includeDeleted with a tag', { includeDeleted: true, tagId: '103' }],
    ['everything at once', { pipelineId: '7000001', tagName: 'hot', price: { min: 1000 }, search: 'o', groupId: '301' }],
  ];
}

describe('V4: every filter with its lead-level meaning, exact totalCount', () => {
  it('each filter selects exactly the leads it means, in upstream order and in a sorted order', async () => {
    for (const [what, filter] of filterCases()) {
      const expected = leads.filter((lead) => matches(lead, filter));
      expect(expected.length, `${what}: the case selects something`).toBeGreaterThan(0);
      if (Object.keys(filter).length > 1 || !filter.includeDeleted) {
        expect(expected.length, `${what}: the case leaves something out`).toBeLessThan(live().length);
      }
      const plain = await walk(harness, 'forward', { filter, size: 250 });
      expect(plain.ids, what).toEqual(idsOf(expected));
      expect(new Set(plain.totals), what).toEqual(new Set([expected.length]));
      const sorted = await walk(harness, 'backward', { filter, orderBy: { field: 'UPDATED_AT', direction: 'DESC' }, size: 250 });
      expect(sorted.ids, what).toEqual(idsOf(sortLeads(expected, 'UPDATED_AT', 'DESC')));
    }
  });

  it('a tag filter returns the lead with all its tags, not the matching row only', async () => {
    const { body } = await ask(harness, '{ leads(first: 250, filter: { tagId: "114" }) { edges { node { kommoId tags { kommoId } } } } }');
    const expected = leads.filter((lead) => matches(lead, { tagId: '114' }));
    const got = dataOf<{ leads: { edges: { node: { kommoId: string; tags: { kommoId: string }[] } }[] } }>(body).leads.edges;
    expect(got.map((edge) => [edge.node.kommoId, edge.node.tags.map((tag) => tag.kommoId).sort()])).toEqual(
      expected.map((lead) => [lead.kommoId, lead.tags.map((tag) => tag.id).sort()]),
    );
    expect(got.some((edge) => edge.node.tags.length === 2)).toBe(true);
  });

  it('nested Pipeline.leads, Status.leads and User.leads with orderBy and a filter', async () => {
    const userId = common(live().map((lead) => lead.responsibleUserId));
    const query = `query($user: ID!) {
      pipeline(kommoId: "7000003") {
        leads(first: 250, orderBy: { field: PRICE, direction: DESC }) { totalCount edges { node { kommoId } } }
        statuses { kommoId leads(first: 250, orderBy: { field: NAME }, filter: { includeDeleted: true }) { totalCount edges { node { kommoId } } } }
      }
      user(kommoId: $user) { leads(first: 250, orderBy: { field: CLOSED_AT, direction: DESC }, filter: { price: { min: 1 } }) { totalCount edges { node { kommoId } } } }
    }`;
    const { body } = await ask(harness, query, { user: userId });
    expect(body.errors).toBeUndefined();
    type Page = { totalCount: number; edges: { node: { kommoId: string } }[] };
    const data = body.data as { pipeline: { leads: Page; statuses: { kommoId: string; leads: Page }[] }; user: { leads: Page } };
    const ids = (page: Page) => page.edges.map((edge) => edge.node.kommoId);
    const inPipeline = leads.filter((lead) => matches(lead, { pipelineId: '7000003' }));
    expect(ids(data.pipeline.leads)).toEqual(idsOf(sortLeads(inPipeline, 'PRICE', 'DESC')));
    expect(data.pipeline.leads.totalCount).toBe(inPipeline.length);
    expect(data.pipeline.statuses.length).toBeGreaterThan(2);
    for (const status of data.pipeline.statuses) {
      const expected = leads.filter((lead) => matches(lead, { pipelineId: '7000003', statusId: status.kommoId, includeDeleted: true }));
      expect(ids(status.leads), status.kommoId).toEqual(idsOf(sortLeads(expected, 'NAME', 'ASC')));
      expect(status.leads.totalCount).toBe(expected.length);
    }
    const mine = leads.filter((lead) => matches(lead, { responsibleUserId: userId, price: { min: 1 } }));
    expect(ids(data.user.leads)).toEqual(idsOf(sortLeads(mine, 'CLOSED_AT', 'DESC')));
  });
});

describe('V4: what the index costs the upstream', () => {
  it('a batch of varied queries after the sync makes no upstream call', async () => {
    const deleted = leads.find((lead) => lead.isDeleted) as ExpectedLead;
    const some = live().slice(0, 5);
    upstream.reset();
    const queries: [string, Record<string, unknown>?][] = [
      [
        `{ leads(first: 50, orderBy: { field: CREATED_AT, direction: DESC }, filter: { tagName: "HOT", price: { min: 100 } }) {
          totalCount dataAsOf edges { node { kommoId name pipeline { name } status { name color } responsibleUser { name } createdBy { name } tags { name } } } } }`,
      ],
      [`{ lead(kommoId: "${some[0]?.kommoId}") { name price tags { name } pipeline { name } } }`],
      [`{ lead(kommoId: "${deleted.kommoId}") { isDeleted } missing: lead(kommoId: "1") { kommoId } }`],
      [
        'query($ids: [ID!]!) { nodes(ids: $ids) { id ... on Lead { kommoId name } } }',
        { ids: some.map((lead) => globalId('Lead', lead.kommoId)) },
      ],
      [
        'query($r: [_Any!]!) { _entities(representations: $r) { ... on Lead { kommoId name status { name } } } }',
        {
          r: live()
            .slice(0, 500)
            .map((lead) => ({ __typename: 'Lead', kommoId: lead.kommoId })),
        },
      ],
      ['{ pipelines { kommoId name statuses { kommoId name leads(first: 3, orderBy: { field: PRICE }) { totalCount } } } }'],
      ['{ users { kommoId name leads(first: 2, orderBy: { field: UPDATED_AT }) { totalCount edges { node { kommoId } } } } }'],
      [`{ node(id: "${globalId('Lead', deleted.kommoId)}") { ... on Lead { isDeleted } } }`],
    ];
    const answers = [];
    for (const [query, variables] of queries) {
      const { status, body } = await ask(harness, query, variables);
      expect(body.errors, query).toBeUndefined();
      expect(status).toBe(200);
      answers.push(body.data);
    }
    expect(upstream.count()).toBe(0);
    // The answers are the data, not empty shells.
    const [sorted, one, deletedAnswer, nodes, entities] = answers as [
      { leads: Connection },
      { lead: { name: string } },
      { lead: { isDeleted: boolean }; missing: null },
      { nodes: { kommoId: string }[] },
      { _entities: { kommoId: string; name: string }[] },
    ];
    expect(sorted.leads.totalCount).toBe(live().filter((lead) => matches(lead, { tagName: 'hot', price: { min: 100 } })).length);
    expect(sorted.leads.dataAsOf).not.toBeNull();
    expect(one.lead.name).toBe(some[0]?.name);
    expect(deletedAnswer).toEqual({ lead: { isDeleted: true }, missing: null });
    expect(nodes.nodes.map((node) => node.kommoId)).toEqual(idsOf(some));
    expect(entities._entities).toHaveLength(500);
    expect(entities._entities.map((entity) => entity.kommoId)).toEqual(idsOf(live().slice(0, 500)));
  });

  it('the first sync of a larger tenant is ceil(rows / 5000) lead calls plus pipelines and users; an idle refresh is one call', async () => {
    const big = await startTestUpstream({ leads: 4000, seed: 5 });
    const rows = big.data.leadRows.length;
    expect(rows).toBeGreaterThan(5000);
    const gateway = await startHarness({ upstream: big, env: { LEADGRAPH_INDEX: 'on', LEADGRAPH_INDEX_REFRESH_SECONDS: '1' } });
    try {
      await indexReady(gateway);
      const sync = big.requests.filter((request) => request.endpoint === 'leads');
      expect(sync.length).toBe(Math.ceil(rows / 5000));
      expect(sync.every((request) => request.query.limit === '5000' && request.query.lastModifiedStart === undefined)).toBe(true);
      expect(big.count('pipelines')).toBe(1);
      expect(big.count('users')).toBe(1);
      expect(big.count()).toBe(Math.ceil(rows / 5000) + 2);

      big.reset();
      const started = Date.now();
      await new Promise((resolve) => setTimeout(resolve, 3500));
      const seconds = (Date.now() - started) / 1000;
      const refreshes = big.requests.filter((request) => request.endpoint === 'leads');
      expect(refreshes.length).toBeGreaterThanOrEqual(Math.floor(seconds) - 1);
      expect(refreshes.length).toBeLessThanOrEqual(Math.ceil(seconds) + 1);
      expect(refreshes.every((request) => request.query.lastModifiedStart !== undefined)).toBe(true);
      expect(big.count()).toBe(refreshes.length);
    } finally {
      await gateway.close();
      await big.close();
    }
  });
});
