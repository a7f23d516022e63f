/**
 * The test upstream's data moves: every mutation seen over real HTTP on 127.0.0.1, through both APIs,
 * the way the upstream contract says each shows a change (V4: rows in place, `is_deleted`, the
 * warehouse's load delay; Kommo: `with=only_deleted`, `order[updated_at]`).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { V4Row } from '../src/demo/v4.js';
import { startTestUpstream, type TestTenant, type TestUpstream } from './support/test-upstream.js';

interface V4Page {
  readonly data: V4Row[];
  readonly pagination: { readonly totalRecords: number; readonly totalPages: number; readonly hasNextPage: boolean };
}

interface KommoLead {
  readonly id: number;
  readonly name?: string;
  readonly updated_at: number;
  readonly is_deleted: boolean;
  readonly [key: string]: unknown;
}

interface KommoPage {
  readonly status: number;
  readonly leads: KommoLead[];
  readonly hasNext: boolean;
}

let upstream: TestUpstream;
let seed = 100;

beforeAll(async () => {
  upstream = await startTestUpstream({ leads: 120 });
});
afterAll(() => upstream.close());

/** A tenant of its own for each test: mutations in one test never reach another. */
const freshTenant = (): TestTenant => upstream.addTenant({ leads: 150, seed: seed++ });

const unix = (date: Date): number => Math.floor(date.getTime() / 1000);
const wholeSecond = (ms: number): number => Math.floor(ms / 1000) * 1000;

async function v4(tenant: TestTenant, query: Record<string, string> = {}): Promise<V4Page> {
  const params = new URLSearchParams({ workspaceId: tenant.workspaceId, ...query });
  const response = await fetch(`${upstream.url}/v1/kommo/leads?${params}`, {
    headers: { 'x-client-id': tenant.clientId, 'x-client-secret': tenant.clientSecret },
  });
  expect(response.status).toBe(200);
  return (await response.json()) as V4Page;
}

async function kommo(tenant: TestTenant, query: readonly (readonly [string, string])[] = []): Promise<KommoPage> {
  const params = new URLSearchParams(query.map(([name, value]) => [name, value]));
  const response = await fetch(`${upstream.url}/api/v4/leads?${params}`, { headers: { authorization: `Bearer ${tenant.kommoToken}` } });
  if (response.status === 204) return { status: 204, leads: [], hasNext: false };
  expect(response.status).toBe(200);
  const body = (await response.json()) as { _links: { next?: unknown }; _embedded: { leads: KommoLead[] } };
  return { status: response.status, leads: body._embedded.leads, hasNext: body._links.next !== undefined };
}

/** Every page of a Kommo list, 250 leads a page; at most 20 pages. */
async function kommoAll(tenant: TestTenant, query: readonly (readonly [string, string])[] = []): Promise<KommoLead[]> {
  const leads: KommoLead[] = [];
  for (let page = 1; page <= 20; page += 1) {
    const answer = await kommo(tenant, [...query, ['page', String(page)], ['limit', '250']]);
    leads.push(...answer.leads);
    if (!answer.hasNext) return leads;
  }
  throw new Error('the Kommo list did not end within 20 pages');
}

const rowsOf = (tenant: TestTenant, id: number): V4Row[] => tenant.data.leadRows.filter((row) => row.lead_id === String(id));
const byNumber = (a: number, b: number): number => a - b;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The rows V4 should answer `lastModifiedStart` with, computed from the tenant's data rather than the server. */
const modifiedSince = (tenant: TestTenant, since: Date): V4Row[] =>
  tenant.data.leadRows.filter((row) => typeof row.updated_at === 'string' && Date.parse(row.updated_at) >= since.getTime());

/** A live lead with tags and an `updatedAt` older than a minute ago (generated data is in the past of any real run). */
const oldTaggedLead = (tenant: TestTenant, skip = 0) => {
  const candidates = tenant.account.leads.filter(
    (lead) => !lead.isDeleted && lead.tags.length > 0 && lead.updatedAt.getTime() < Date.now() - 60_000 && !lead.v4Text,
  );
  const lead = candidates[skip];
  if (!lead) throw new Error('the generated data has no such lead');
  return lead;
};

describe('the test upstream: data that moves', () => {
  it('an insert at the head shifts V4 page 1 by its rows and heads the Kommo list; at the tail it comes last', async () => {
    const tenant = freshTenant();
    const before = await v4(tenant, { limit: '10' });
    const kommoBefore = await kommo(tenant, [['limit', '5']]);
    const maxId = Math.max(...tenant.account.leads.map((lead) => lead.id));
    const realBefore = wholeSecond(Date.now());

    const tags = [
      { id: 101, name: 'hot', color: '#ff0000' },
      { id: 102, name: 'vip', color: '#ffd700' },
    ];
    const head = tenant.insertLead({ name: 'Head lead', tags }, { at: 'head' });
    expect(head.id).toBe(maxId + 1);
    expect(head.updatedAt.getTime()).toBe(head.createdAt?.getTime());
    expect(head.updatedAt.getTime()).toBeGreaterThanOrEqual(realBefore);
    expect(head.updatedAt.getTime()).toBeLessThanOrEqual(Date.now());

    const after = await v4(tenant, { limit: '10' });
    // One row per tag, adjacent, first; the rest of page 1 is the old page 1 moved down by two rows.
    expect(after.data.slice(0, 2).map((row) => [row.lead_id, row.tag_id, row.lead_name])).toEqual([
      [String(head.id), '101', 'Head lead'],
      [String(head.id), '102', 'Head lead'],
    ]);
    expect(after.data.slice(2)).toEqual(before.data.slice(0, 8));
    expect(after.pagination.totalRecords).toBe(before.pagination.totalRecords + 2);
    expect(after.data[0]?.updated_at).toBe(head.updatedAt.toISOString());

    const kommoAfter = await kommo(tenant, [['limit', '5']]);
    expect(kommoAfter.leads.map((lead) => lead.id)).toEqual([head.id, ...kommoBefore.leads.slice(0, 4).map((lead) => lead.id)]);
    expect(kommoAfter.leads[0]?.updated_at).toBe(unix(head.updatedAt));

    const tail = tenant.insertLead({ name: 'Tail lead' });
    expect(tail.id).toBe(head.id + 1);
    const total = tenant.data.leadRows.length;
    const last = await v4(tenant, { limit: '10', page: String(Math.ceil(total / 10)) });
    expect(last.pagination.hasNextPage).toBe(false);
    expect(last.data.at(-1)?.lead_id).toBe(String(tail.id));
    expect(last.data.at(-1)?.tag_id).toBeNull();
    const everyKommoLead = await kommoAll(tenant);
    expect(everyKommoLead.at(-1)?.id).toBe(tail.id);
    expect(everyKommoLead).toHaveLength(tenant.account.leads.filter((lead) => !lead.isDeleted).length);
  });

  it('an update changes the lead in place with a new updated_at: V4 lastModifiedStart and Kommo filter[updated_at][from] find it', async () => {
    const tenant = freshTenant();
    const lead = oldTaggedLead(tenant, 3);
    const position = tenant.data.leadRows.findIndex((row) => row.lead_id === String(lead.id));
    const kommoPosition = tenant.account.leads.findIndex((candidate) => candidate.id === lead.id);
    const since = new Date(wholeSecond(Date.now()));
    expect((await v4(tenant, { lastModifiedStart: since.toISOString(), limit: '5000' })).data.map((row) => row.lead_id)).not.toContain(
      String(lead.id),
    );

    const updated = tenant.updateLead(lead.id, { name: 'Renamed', price: 123 });
    expect(updated.updatedAt.getTime()).toBeGreaterThanOrEqual(since.getTime());
    expect(updated.updatedAt.getTime()).toBeGreaterThan(lead.updatedAt.getTime());
    expect(updated.tags).toEqual(lead.tags);

    // Same position, same number of rows, the new values and time on each.
    const all = await v4(tenant, { limit: '5000' });
    const rows = all.data.slice(position, position + lead.tags.length);
    expect(rows.map((row) => [row.lead_id, row.lead_name, row.price, row.updated_at])).toEqual(
      lead.tags.map(() => [String(lead.id), 'Renamed', 123, updated.updatedAt.toISOString()]),
    );
    expect(all.data).toEqual(tenant.data.leadRows);

    const changed = await v4(tenant, { lastModifiedStart: since.toISOString(), limit: '5000' });
    expect(changed.data).toEqual(modifiedSince(tenant, since));
    expect(changed.data.filter((row) => row.lead_id === String(lead.id))).toHaveLength(lead.tags.length);
    const beforeIt = new Date(updated.updatedAt.getTime() - 1000).toISOString();
    const older = await v4(tenant, { lastModifiedEnd: beforeIt, limit: '5000' });
    expect(older.data.map((row) => row.lead_id)).not.toContain(String(lead.id));

    const kommoChanged = await kommoAll(tenant, [
      ['filter[updated_at][from]', String(unix(since))],
      ['order[updated_at]', 'asc'],
    ]);
    const found = kommoChanged.find((candidate) => candidate.id === lead.id);
    expect(found?.name).toBe('Renamed');
    expect(found?.updated_at).toBe(unix(updated.updatedAt));
    expect(kommoChanged.every((candidate) => candidate.updated_at >= unix(since))).toBe(true);
    const everyKommoLead = await kommoAll(tenant);
    const livePosition = tenant.account.leads.slice(0, kommoPosition).filter((candidate) => !candidate.isDeleted).length;
    expect(everyKommoLead[livePosition]?.id).toBe(lead.id);
  });

  it('Kommo honours order[updated_at]=asc (ties by id) and =desc over changed data, across pages', async () => {
    const tenant = freshTenant();
    const first = tenant.account.leads.find((lead) => !lead.isDeleted);
    if (!first) throw new Error('no live lead');
    const updated = tenant.updateLead(first.id, { price: 1 });
    // Two leads with one explicit time: that time is kept, and they tie on it.
    const at = new Date(Date.parse('2025-06-01T12:00:00Z'));
    const a = tenant.insertLead({ updatedAt: at, createdAt: at }, { at: 'head' });
    const b = tenant.insertLead({ updatedAt: at, createdAt: at }, { at: 'head' });
    expect(b.updatedAt).toEqual(at);

    const ascending = await kommoAll(tenant, [['order[updated_at]', 'asc']]);
    const byUpdate = tenant.account.leads
      .filter((lead) => !lead.isDeleted)
      .sort((x, y) => unix(x.updatedAt) - unix(y.updatedAt) || x.id - y.id)
      .map((lead) => lead.id);
    expect(ascending.map((lead) => lead.id)).toEqual(byUpdate);
    expect(ascending.at(-1)?.id).toBe(updated.id);
    const tied = ascending.map((lead) => lead.id).filter((id) => id === a.id || id === b.id);
    expect(tied).toEqual([a.id, b.id]);

    const descending = await kommo(tenant, [
      ['order[updated_at]', 'desc'],
      ['limit', '3'],
    ]);
    expect(descending.leads[0]?.id).toBe(updated.id);
    // page/limit slice the ordered list.
    const second = await kommo(tenant, [
      ['order[updated_at]', 'asc'],
      ['limit', '7'],
      ['page', '2'],
    ]);
    expect(second.leads.map((lead) => lead.id)).toEqual(byUpdate.slice(7, 14));
    // Without an order the list keeps the account's own order: the inserts at the head come first.
    expect((await kommo(tenant, [['limit', '2']])).leads.map((lead) => lead.id)).toEqual([b.id, a.id]);
  });

  it('a V4 deletion keeps the row, with is_deleted and a new updated_at', async () => {
    const tenant = freshTenant();
    const lead = oldTaggedLead(tenant);
    const since = new Date(wholeSecond(Date.now()));
    const deleted = tenant.deleteLead(lead.id);
    expect(deleted.isDeleted).toBe(true);
    expect(deleted.updatedAt.getTime()).toBeGreaterThanOrEqual(since.getTime());

    const rows = (await v4(tenant, { leadId: String(lead.id) })).data;
    expect(rows).toHaveLength(lead.tags.length);
    expect(rows.every((row) => row.is_deleted === true && row.updated_at === deleted.updatedAt.toISOString())).toBe(true);
    const changed = await v4(tenant, { lastModifiedStart: since.toISOString(), limit: '5000' });
    expect(changed.data).toEqual(modifiedSince(tenant, since));
    expect(changed.data.filter((row) => row.lead_id === String(lead.id)).map((row) => row.is_deleted)).toEqual(lead.tags.map(() => true));
  });

  it('a Kommo deletion leaves the normal list and appears under with=only_deleted, found by filter[updated_at][from]', async () => {
    const tenant = freshTenant();
    const lead = oldTaggedLead(tenant, 1);
    const byId: [string, string][] = [['filter[id][]', String(lead.id)]];
    expect((await kommo(tenant, byId)).leads.map((found) => found.id)).toEqual([lead.id]);
    const since = new Date(wholeSecond(Date.now()));
    const deletedBefore = await kommoAll(tenant, [
      ['with', 'only_deleted'],
      ['filter[updated_at][from]', String(unix(since))],
    ]);
    expect(deletedBefore.map((found) => found.id)).not.toContain(lead.id);

    const deleted = tenant.deleteLead(lead.id);
    expect((await kommo(tenant, byId)).status).toBe(204);
    expect((await kommoAll(tenant)).map((found) => found.id)).not.toContain(lead.id);
    const deletions = await kommoAll(tenant, [
      ['with', 'only_deleted'],
      ['filter[updated_at][from]', String(unix(since))],
    ]);
    const entry = deletions.find((found) => found.id === lead.id);
    expect(entry).toMatchObject({ id: lead.id, updated_at: unix(deleted.updatedAt), is_deleted: true });
    expect(Object.keys(entry ?? {}).sort()).toEqual(['_links', 'id', 'is_deleted', 'updated_at']);
    // A window that starts after the deletion does not list it.
    const later = await kommoAll(tenant, [
      ['with', 'only_deleted'],
      ['filter[updated_at][from]', String(unix(deleted.updatedAt) + 1)],
    ]);
    expect(later.map((found) => found.id)).not.toContain(lead.id);
  });

  it('a vanished lead is gone from both APIs without trace', async () => {
    const tenant = freshTenant();
    const lead = oldTaggedLead(tenant, 2);
    const rowsBefore = (await v4(tenant, { limit: '5000' })).pagination.totalRecords;
    tenant.vanishLead(lead.id);

    const all = await v4(tenant, { limit: '5000' });
    expect(all.pagination.totalRecords).toBe(rowsBefore - lead.tags.length);
    expect(all.data.map((row) => row.lead_id)).not.toContain(String(lead.id));
    expect((await v4(tenant, { leadId: String(lead.id) })).data).toEqual([]);
    expect(rowsOf(tenant, lead.id)).toEqual([]);
    expect((await kommo(tenant, [['filter[id][]', String(lead.id)]])).status).toBe(204);
    expect((await kommoAll(tenant, [['with', 'only_deleted']])).map((found) => found.id)).not.toContain(lead.id);
    expect(tenant.account.leads.some((candidate) => candidate.id === lead.id)).toBe(false);
    expect(() => tenant.updateLead(lead.id, { name: 'again' })).toThrow(/no lead/);
  });

  it('clock skew: every stamp from then on is shifted, ahead of (or behind) the real clock', async () => {
    const tenant = freshTenant();
    const lead = oldTaggedLead(tenant);
    tenant.setClockSkew(2 * 3600_000);
    const realNow = Date.now();
    const updated = tenant.updateLead(lead.id, { name: 'From the future' });
    const inserted = tenant.insertLead();
    for (const stamp of [updated.updatedAt, inserted.updatedAt, inserted.createdAt, tenant.now()]) {
      expect(stamp?.getTime()).toBeGreaterThanOrEqual(wholeSecond(realNow + 2 * 3600_000));
      expect(stamp?.getTime()).toBeLessThanOrEqual(Date.now() + 2 * 3600_000);
    }
    // Rows ahead of the gateway's clock: lastModifiedStart at the real now still finds them.
    const ahead = await v4(tenant, { lastModifiedStart: new Date(realNow).toISOString(), limit: '5000' });
    expect(new Set(ahead.data.map((row) => row.lead_id))).toEqual(new Set([String(lead.id), String(inserted.id)]));
    expect(ahead.data.every((row) => Date.parse(String(row.updated_at)) > Date.now() + 3600_000)).toBe(true);
    const kommoAhead = await kommoAll(tenant, [['filter[updated_at][from]', String(unix(new Date(realNow + 3600_000)))]]);
    expect(kommoAhead.map((found) => found.id).sort(byNumber)).toEqual([lead.id, inserted.id].sort(byNumber));

    tenant.setClockSkew(-3600_000);
    const behind = tenant.updateLead(inserted.id, { price: 7 });
    expect(behind.updatedAt.getTime()).toBeLessThanOrEqual(Date.now() - 3600_000 + 1000);
    expect(behind.updatedAt.getTime()).toBeGreaterThanOrEqual(wholeSecond(realNow - 3600_000));
    expect((await v4(tenant, { leadId: String(inserted.id) })).data[0]?.updated_at).toBe(behind.updatedAt.toISOString());
  });

  it('held V4 loads: changes stay invisible to V4 (Kommo sees them) until loadV4(), then appear with their original updated_at', async () => {
    const tenant = freshTenant();
    const lead = oldTaggedLead(tenant);
    const doomed = oldTaggedLead(tenant, 1);
    const held = await v4(tenant, { limit: '5000' });
    const since = new Date(wholeSecond(Date.now()));
    tenant.holdV4Loads(true);

    const updated = tenant.updateLead(lead.id, { name: 'Held change' });
    const inserted = tenant.insertLead({ name: 'Held insert' }, { at: 'head' });
    const deleted = tenant.deleteLead(doomed.id);

    // V4 serves the rows of the last load; `data` and `v4Account` say so, `account` is the new state.
    const during = await v4(tenant, { limit: '5000' });
    expect(during.data).toEqual(held.data);
    expect(tenant.data.leadRows).toEqual(held.data);
    expect((await v4(tenant, { lastModifiedStart: since.toISOString(), limit: '5000' })).data).toEqual([]);
    expect(tenant.v4Account.leads.some((candidate) => candidate.id === inserted.id)).toBe(false);
    expect(tenant.account.leads[0]?.id).toBe(inserted.id);

    // Kommo sees every change at once.
    const kommoChanged = await kommoAll(tenant, [['filter[updated_at][from]', String(unix(since))]]);
    expect(kommoChanged.map((found) => found.id).sort(byNumber)).toEqual([lead.id, inserted.id].sort(byNumber));
    const deletions = await kommoAll(tenant, [
      ['with', 'only_deleted'],
      ['filter[updated_at][from]', String(unix(since))],
    ]);
    expect(deletions.map((found) => found.id)).toEqual([doomed.id]);

    // The load comes later than the changes: they appear with the older times they were made at.
    await sleep(1100);
    const loadedAt = Date.now();
    tenant.loadV4();
    const loaded = await v4(tenant, { lastModifiedStart: since.toISOString(), limit: '5000' });
    expect(new Set(loaded.data.map((row) => row.lead_id))).toEqual(new Set([String(lead.id), String(inserted.id), String(doomed.id)]));
    const times = new Map(loaded.data.map((row) => [row.lead_id, row.updated_at]));
    expect(times.get(String(lead.id))).toBe(updated.updatedAt.toISOString());
    expect(times.get(String(inserted.id))).toBe(inserted.updatedAt.toISOString());
    expect(times.get(String(doomed.id))).toBe(deleted.updatedAt.toISOString());
    expect(loaded.data.every((row) => Date.parse(String(row.updated_at)) < loadedAt - 1000)).toBe(true);
    expect(loaded.data.filter((row) => row.lead_id === String(doomed.id)).every((row) => row.is_deleted === true)).toBe(true);
    expect((await v4(tenant, { limit: '1' })).data[0]?.lead_id).toBe(String(inserted.id));
    expect(tenant.data.leadRows).toEqual((await v4(tenant, { limit: '5000' })).data);

    // Holding goes on after a load; holdV4Loads(false) loads what is held and stops holding.
    const next = tenant.updateLead(lead.id, { name: 'Second change' });
    expect((await v4(tenant, { leadId: String(lead.id) })).data[0]?.lead_name).toBe('Held change');
    tenant.holdV4Loads(false);
    expect((await v4(tenant, { leadId: String(lead.id) })).data[0]?.lead_name).toBe('Second change');
    const live = tenant.updateLead(lead.id, { name: 'Live change' });
    const rows = (await v4(tenant, { leadId: String(lead.id) })).data;
    expect(rows.map((row) => [row.lead_name, row.updated_at])).toEqual(lead.tags.map(() => ['Live change', live.updatedAt.toISOString()]));
    expect(live.updatedAt.getTime()).toBeGreaterThanOrEqual(next.updatedAt.getTime());
  });

  it('a lead that vanishes while loads are held is gone from V4 at once, not only after the load', async () => {
    const tenant = freshTenant();
    const lead = oldTaggedLead(tenant);
    tenant.holdV4Loads(true);
    tenant.vanishLead(lead.id);
    expect((await v4(tenant, { leadId: String(lead.id) })).data).toEqual([]);
    expect(tenant.v4Account.leads.some((candidate) => candidate.id === lead.id)).toBe(false);
    tenant.loadV4();
    expect((await v4(tenant, { leadId: String(lead.id) })).data).toEqual([]);
  });

  it('the default tenant moves too; its request log, totals and paging follow the data', async () => {
    const tablesBefore = upstream.data;
    // Nobody has mutated it yet: every read is the same generated table, not a copy.
    expect(upstream.data).toBe(tablesBefore);
    upstream.reset();
    const rows = upstream.data.leadRows.length;
    const inserted = upstream.insertLead({ tags: [{ id: 103, name: 'webinar', color: '#00aaff' }] });
    expect(upstream.data).not.toBe(tablesBefore);
    expect(upstream.data.leadRows).toHaveLength(rows + 1);
    expect(upstream.account.leads.at(-1)).toEqual(inserted);

    const limit = 25;
    const lastPage = Math.ceil((rows + 1) / limit);
    const page = await v4(upstream, { limit: String(limit), page: String(lastPage) });
    expect(page.pagination).toMatchObject({ totalRecords: rows + 1, totalPages: lastPage, hasNextPage: false });
    expect(page.data.at(-1)?.lead_id).toBe(String(inserted.id));
    expect(await v4(upstream, { tagId: '103', lastModifiedStart: inserted.updatedAt.toISOString() })).toMatchObject({
      data: [expect.objectContaining({ lead_id: String(inserted.id), tag_name: 'webinar' })],
    });
    expect((await kommo(upstream, [['filter[id][]', String(inserted.id)]])).leads.map((lead) => lead.id)).toEqual([inserted.id]);
    expect(upstream.count('leads')).toBe(2);
    expect(upstream.count('kommo:leads')).toBe(1);
  });
});
