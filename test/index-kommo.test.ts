/**
 * The lead index on the Kommo source, over real HTTP on 127.0.0.1: every order both ways, every filter
 * (those Kommo cannot apply pass-through too, once the index is ready), nested connections, the call
 * count of the first sync and of idle refreshes, and deletions followed through `with=only_deleted`.
 * Expectations come from the test upstream's account (support/index-expect.ts).
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
  leadFromAccount,
  matches,
  ORDER_FIELDS,
  paced,
  sortLeads,
  walk,
} from './support/index-expect.js';
import { startTestUpstream, type TestUpstream } from './support/test-upstream.js';
import { until } from './support/until.js';

const VIP_TOO = { id: 114, name: 'Vip', color: '#aa00aa' };

let upstream: TestUpstream;
let harness: Harness;
let syncCalls: Record<string, number>;
/** The leads Kommo lists (deleted ones are only under with=only_deleted), in id order: the full read's. */
const listed = (): ExpectedLead[] => sortLeads(upstream.account.leads.filter((lead) => !lead.isDeleted).map(leadFromAccount), 'ID', 'ASC');

beforeAll(async () => {
  upstream = await startTestUpstream({ leads: 600, seed: 31 });
  upstream.insertLead({ name: 'MiXeD Case VIP', price: 125, tags: [VIP_TOO] }, { at: 'head' });
  upstream.insertLead({ name: 'both tags', price: 125, tags: [{ id: 101, name: 'hot', color: '#ff0000' }, VIP_TOO] });
  harness = await startHarness({ upstream, api: 'kommo', env: { LEADGRAPH_INDEX: 'on', LEADGRAPH_INDEX_REFRESH_SECONDS: '600' } });
  await indexReady(harness);
  syncCalls = Object.fromEntries(['kommo:leads', 'kommo:pipelines', 'kommo:users'].map((name) => [name, upstream.count(name)]));
});
afterAll(async () => {
  await harness.close();
  await upstream.close();
});

describe('Kommo: the first sync', () => {
  it('is ceil(leads / 250) lead pages in id order and one check for deletions during the read, plus pipelines and users', () => {
    const pages = upstream.requests.filter((request) => request.endpoint === 'kommo:leads' && request.query.with !== 'only_deleted');
    expect(pages).toHaveLength(Math.ceil(listed().length / 250));
    expect(upstream.requests.filter((request) => request.query.with === 'only_deleted')).toHaveLength(1);
    expect(syncCalls).toEqual({ 'kommo:leads': Math.ceil(listed().length / 250) + 1, 'kommo:pipelines': 1, 'kommo:users': 1 });
    expect(pages.every((request) => request.query.limit === '250' && request.query['order[id]'] === 'asc')).toBe(true);
  });
});

describe('Kommo: every order, both directions, forward and backward', () => {
  for (const field of ORDER_FIELDS) {
    for (const direction of ['ASC', 'DESC'] as const) {
      it(`${field} ${direction} equals an independent sort of the account's leads`, async () => {
        const expected = idsOf(sortLeads(listed(), field, direction));
        const orderBy = { field, direction };
        expect((await walk(harness, 'forward', { orderBy, size: 110 })).ids).toEqual(expected);
        const backward = await walk(harness, 'backward', { orderBy, size: 110 });
        expect(backward.ids).toEqual(expected);
        expect(new Set(backward.totals)).toEqual(new Set([expected.length]));
      });
    }
  }

  it('without orderBy: the full read order (ids ascending), forward and backward', async () => {
    expect((await walk(harness, 'forward', { size: 250 })).ids).toEqual(idsOf(listed()));
    expect((await walk(harness, 'backward', { size: 200 })).ids).toEqual(idsOf(listed()));
  });
});

describe('Kommo: every filter with its lead-level meaning, exact totalCount', () => {
  it('filters Kommo cannot apply pass-through work from the ready index, as do the others', async () => {
    const all = listed();
    const created = all.map((lead) => lead.createdAt).sort((a, b) => a - b);
    const closed = all.flatMap((lead) => (lead.closedAt === null ? [] : [lead.closedAt])).sort((a, b) => a - b);
    const iso = (values: number[], at: number) => new Date(values[Math.floor(values.length * at)] as number).toISOString();
    const cases: [string, FilterInput][] = [
      ['groupId (not a Kommo filter)', { groupId: '301' }],
      ['groupId 0', { groupId: '0' }],
      ['lossReasonId (not a Kommo filter)', { lossReasonId: '502' }],
      ['tagId (not a Kommo filter)', { tagId: '104' }],
      ['tagName, case-insensitive (not a Kommo filter)', { tagName: 'VIP' }],
      ['tagId and tagName of different tags', { tagId: '101', tagName: 'vip' }],
      ['statusId without pipelineId (Kommo needs the pair)', { statusId: '142' }],
      ['statusId with pipelineId', { statusId: '143', pipelineId: '7000001' }],
      ['pipelineId', { pipelineId: '7000004' }],
      ['responsibleUserId', { responsibleUserId: String(upstream.account.users[3]?.id) }],
      ['createdAt', { createdAt: { from: iso(created, 0.3), to: iso(created, 0.6) } }],
      ['updatedAt', { updatedAt: { to: iso(created, 0.4) } }],
      ['closedAt', { closedAt: { from: iso(closed, 0.5) } }],
      ['price', { price: { min: 125, max: 9000 } }],
      ['search', { search: 'Annual PLAN' }],
      ['combined', { tagName: 'hot', groupId: '0', price: { min: 1 }, search: 'for' }],
    ];
    for (const [what, filter] of cases) {
      const expected = all.filter((lead) => matches(lead, filter));
      expect(expected.length, `${what}: selects something`).toBeGreaterThan(0);
      expect(expected.length, `${what}: leaves something out`).toBeLessThan(all.length);
      const plain = await walk(harness, 'forward', { filter, size: 250 });
      expect(plain.ids, what).toEqual(idsOf(expected));
      expect(new Set(plain.totals), what).toEqual(new Set([expected.length]));
      const sorted = await walk(harness, 'forward', { filter, orderBy: { field: 'NAME', direction: 'DESC' }, size: 250 });
      expect(sorted.ids, what).toEqual(idsOf(sortLeads(expected, 'NAME', 'DESC')));
    }
  });

  it('nested Pipeline.leads, Status.leads and User.leads with orderBy', async () => {
    const userId = String(upstream.account.users[5]?.id);
    const query = `query($user: ID!) {
      pipeline(kommoId: "7000002") {
        leads(first: 250, orderBy: { field: CREATED_AT, direction: DESC }) { totalCount edges { node { kommoId } } }
        statuses { kommoId leads(last: 250, orderBy: { field: PRICE }) { totalCount edges { node { kommoId } } } }
      }
      user(kommoId: $user) { leads(first: 250, orderBy: { field: ID, direction: DESC }, filter: { tagId: "101" }) { totalCount edges { node { kommoId } } } }
    }`;
    const { body } = await ask(harness, query, { user: userId });
    type Page = { totalCount: number; edges: { node: { kommoId: string } }[] };
    const data = dataOf<{ pipeline: { leads: Page; statuses: { kommoId: string; leads: Page }[] }; user: { leads: Page } }>(body);
    const ids = (page: Page) => page.edges.map((edge) => edge.node.kommoId);
    const inPipeline = listed().filter((lead) => matches(lead, { pipelineId: '7000002' }));
    expect(ids(data.pipeline.leads)).toEqual(idsOf(sortLeads(inPipeline, 'CREATED_AT', 'DESC')));
    for (const status of data.pipeline.statuses) {
      const expected = listed().filter((lead) => matches(lead, { pipelineId: '7000002', statusId: status.kommoId }));
      expect(ids(status.leads), status.kommoId).toEqual(idsOf(sortLeads(expected, 'PRICE', 'ASC')));
      expect(status.leads.totalCount).toBe(expected.length);
    }
    const mine = listed().filter((lead) => matches(lead, { responsibleUserId: userId, tagId: '101' }));
    expect(ids(data.user.leads)).toEqual(idsOf(sortLeads(mine, 'ID', 'DESC')));
  });

  it('a batch of queries after the sync makes no Kommo call', async () => {
    upstream.reset();
    const some = listed().slice(0, 300);
    const { body } = await ask(
      harness,
      `query($r: [_Any!]!) {
        leads(first: 20, orderBy: { field: PRICE, direction: DESC }, filter: { tagName: "Hot" }) { totalCount edges { node { name pipeline { name } status { name } responsibleUser { name } } } }
        one: lead(kommoId: "${some[7]?.kommoId}") { name }
        _entities(representations: $r) { ... on Lead { kommoId } }
        pipelines { statuses { leads(first: 1) { totalCount } } }
        users { kommoId }
      }`,
      { r: some.map((lead) => ({ __typename: 'Lead', kommoId: lead.kommoId })) },
    );
    const data = dataOf<{ leads: Connection; one: { name: string }; _entities: { kommoId: string }[] }>(body);
    expect(data.one.name).toBe(some[7]?.name);
    expect(data._entities.map((entity) => entity.kommoId)).toEqual(idsOf(some));
    expect(data.leads.totalCount).toBe(listed().filter((lead) => matches(lead, { tagName: 'hot' })).length);
    expect(upstream.count()).toBe(0);
  });
});

describe('Kommo: lookups of leads the index never saw', () => {
  it('a lead deleted before the first read resolves deleted, as without the index; the leads it holds come from it', async () => {
    const gone = upstream.account.leads.filter((lead) => lead.isDeleted).slice(0, 3);
    expect(gone.length).toBeGreaterThan(0);
    const known = listed().slice(0, 50);
    upstream.reset();
    const { body } = await ask(harness, 'query($r: [_Any!]!) { _entities(representations: $r) { ... on Lead { kommoId isDeleted } } }', {
      r: [...known.map((lead) => lead.kommoId), ...gone.map((lead) => String(lead.id)), '1'].map((kommoId) => ({
        __typename: 'Lead',
        kommoId,
      })),
    });
    const entities = dataOf<{ _entities: ({ kommoId: string; isDeleted: boolean } | null)[] }>(body)._entities;
    expect(entities).toEqual([
      ...known.map((lead) => ({ kommoId: lead.kommoId, isDeleted: false })),
      ...gone.map((lead) => ({ kommoId: String(lead.id), isDeleted: true })),
      null,
    ]);
    // One list of the missing ids, one more for them among the deletions.
    expect(upstream.count()).toBe(2);
    // The leads the index holds come from it: a change it has not read yet is not in the answer.
    const known0 = known[0] as ExpectedLead;
    upstream.updateLead(Number(known0.kommoId), { name: 'Changed upstream only' });
    const again = await ask(harness, `{ a: lead(kommoId: "${known0.kommoId}") { name } b: lead(kommoId: "${gone[0]?.id}") { isDeleted } }`);
    expect(dataOf(again.body)).toEqual({ a: { name: known0.name }, b: { isDeleted: true } });
  });
});

describe('Kommo: refreshes', () => {
  it('an idle refresh is two calls (changes and deletions); a deletion is followed: isDeleted on lookup, gone from the list', async () => {
    const moving = await startTestUpstream({ leads: 300, seed: 8 });
    const gateway = await startHarness({
      upstream: moving,
      api: 'kommo',
      env: { LEADGRAPH_INDEX: 'on', LEADGRAPH_INDEX_REFRESH_SECONDS: '1' },
    });
    try {
      await indexReady(gateway);
      moving.reset();
      const started = Date.now();
      await new Promise((resolve) => setTimeout(resolve, 3500));
      const seconds = (Date.now() - started) / 1000;
      const changes = moving.requests.filter((request) => request.endpoint === 'kommo:leads' && request.query.with !== 'only_deleted');
      const deletions = moving.requests.filter((request) => request.query.with === 'only_deleted');
      expect(changes.length).toBeGreaterThanOrEqual(Math.floor(seconds) - 1);
      expect(changes.length).toBeLessThanOrEqual(Math.ceil(seconds) + 1);
      expect(Math.abs(deletions.length - changes.length)).toBeLessThanOrEqual(1);
      expect(moving.count()).toBe(changes.length + deletions.length);
      expect(changes.every((request) => request.query['filter[updated_at][from]'] !== undefined)).toBe(true);

      const victim = moving.account.leads.find((lead) => !lead.isDeleted && lead.tags.length > 0);
      if (!victim) throw new Error('no live lead with tags');
      const id = String(victim.id);
      const lookup = `{ lead(kommoId: "${id}") { isDeleted } leads(first: 250, filter: { tagId: "${victim.tags[0]?.id}" }) { totalCount edges { node { kommoId } } } }`;
      const before = dataOf<{ lead: { isDeleted: boolean }; leads: Connection }>((await ask(gateway, lookup)).body);
      expect(before.lead.isDeleted).toBe(false);
      expect(before.leads.edges.map((edge) => edge.node.kommoId)).toContain(id);
      moving.deleteLead(victim.id);
      const deletedAt = Date.now();
      await until(
        paced(async () => dataOf<{ lead: { isDeleted: boolean } }>((await ask(gateway, lookup)).body).lead.isDeleted),
        5000,
        'the deletion reaches the index',
      );
      expect(Date.now() - deletedAt).toBeLessThan(1000 + 1500);
      const after = dataOf<{ leads: Connection }>((await ask(gateway, lookup)).body);
      expect(after.leads.edges.map((edge) => edge.node.kommoId)).not.toContain(id);
      expect(after.leads.totalCount).toBe((before.leads.totalCount as number) - 1);
      const withDeleted = dataOf<{ leads: { edges: { node: { kommoId: string; isDeleted: boolean } }[] } }>(
        (
          await ask(
            gateway,
            `{ leads(first: 250, filter: { includeDeleted: true, tagId: "${victim.tags[0]?.id}" }) { edges { node { kommoId isDeleted } } } }`,
          )
        ).body,
      );
      expect(withDeleted.leads.edges.filter((edge) => edge.node.kommoId === id)).toEqual([{ node: { kommoId: id, isDeleted: true } }]);
    } finally {
      await gateway.close();
      await moving.close();
    }
  });
});
