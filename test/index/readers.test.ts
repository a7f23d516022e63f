/**
 * The index's readers of both sources, against the test upstream on loopback: a full read through
 * the sync holds every lead the upstream has, as the pager merges them; a refresh asks only for what
 * changed since the watermark; Kommo's deletions come from `with=only_deleted`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLeadStore } from '../../src/index/store.js';
import { createLeadSync } from '../../src/index/sync.js';
import { createKommoAdapter } from '../../src/sources/kommo/adapter.js';
import { createV4Adapter } from '../../src/sources/v4/adapter.js';
import type { JsonGetter } from '../../src/transport/http.js';
import { expectedLeads } from '../support/harness.js';
import { startTestUpstream, type TestUpstream } from '../support/test-upstream.js';

/** A bare getter: the test counts the upstream's requests itself. */
function getter(baseUrl: string, headers: Record<string, string>): JsonGetter {
  return {
    async getJson(request) {
      const url = new URL(request.path, baseUrl);
      for (const [key, value] of Object.entries(request.query)) {
        for (const item of [value].flat()) url.searchParams.append(key, item);
      }
      const response = await fetch(url, { headers, signal: request.signal });
      const text = await response.text();
      if (!response.ok && response.status !== 204) throw new Error(`${response.status} ${text.slice(0, 200)}`);
      return request.decode(text ? JSON.parse(text) : null);
    },
  };
}

describe('the index readers', () => {
  let demo: TestUpstream;
  beforeAll(async () => {
    demo = await startTestUpstream({ leads: 1200, seed: 12 });
  });
  afterAll(() => demo.close());

  it('V4: a full read is ceil(rows / 5000) calls and holds every lead, deleted ones marked; a refresh filters by lastModifiedStart', async () => {
    const adapter = createV4Adapter({
      transport: getter(demo.url, { 'x-client-id': demo.clientId, 'x-client-secret': demo.clientSecret }),
      workspaceId: demo.workspaceId,
      blockSize: 500,
      lookupConcurrency: 2,
    });
    const store = createLeadStore();
    let now = Date.parse('2030-01-01T00:00:00Z');
    const sync = createLeadSync({ store, reader: adapter.indexReader, overlapMs: 6 * 3600_000, clock: () => now });
    demo.reset();
    const report = await sync.fullSync();
    const rows = demo.data.leadRows.length;
    expect(demo.count('leads')).toBe(Math.ceil(rows / 5000));
    const every = expectedLeads(demo, () => true);
    expect(store.size).toBe(every.length);
    expect(report.leadsRead).toBe(every.length);
    const deleted = new Set(demo.data.leadRows.filter((row) => row.is_deleted === true).map((row) => String(row.lead_id)));
    expect(deleted.size).toBeGreaterThan(0);
    const [one] = store.get([[...deleted][0] as string]);
    expect(one?.isDeleted).toBe(true);
    // Tags of a lead spread over several rows are merged, as the pager merges them.
    const tagged = every.find((lead) => lead.tagIds.length > 1);
    expect(
      store
        .get([tagged?.kommoId as string])[0]
        ?.tags.map((tag) => tag.kommoId)
        .sort(),
    ).toEqual([...(tagged?.tagIds ?? [])].sort());

    demo.reset();
    now += 60_000;
    await sync.refresh();
    const asked = demo.requests.map((request) => request.query.lastModifiedStart);
    // The watermark is our clock at the full read minus the overlap, never a row's updated_at.
    expect(asked).toEqual([new Date(Date.parse('2030-01-01T00:00:00Z') - 6 * 3600_000).toISOString()]);
  });

  it('Kommo: 250 leads a page, in id order, then oldest change first; deletions from with=only_deleted', async () => {
    const adapter = createKommoAdapter({
      transport: getter(demo.url, { authorization: `Bearer ${demo.kommoToken}` }),
      blockSize: 250,
      lookupConcurrency: 2,
    });
    const store = createLeadStore();
    let now = Date.parse('2030-01-01T00:00:00Z');
    const sync = createLeadSync({ store, reader: adapter.indexReader, overlapMs: 5 * 60_000, clock: () => now });
    demo.reset();
    await sync.fullSync();
    const live = expectedLeads(demo);
    expect(store.size).toBe(live.length);
    const pages = demo.requests.filter((request) => request.query.with !== 'only_deleted');
    expect(pages).toHaveLength(Math.ceil(live.length / 250));
    // The full read in id order (a lead changed meanwhile keeps its place), changes oldest first.
    expect(pages.every((request) => request.query['order[id]'] === 'asc' && request.query.limit === '250')).toBe(true);
    // Then one question: was a lead deleted during the read (it would have shifted the pages after it)?
    expect(
      demo.requests.filter((request) => request.query.with === 'only_deleted').map((request) => request.query['filter[updated_at][from]']),
    ).toEqual([String(Date.parse('2030-01-01T00:00:00Z') / 1000)]);

    demo.reset();
    now += 60_000;
    const report = await sync.refresh();
    const since = String(Math.floor((Date.parse('2030-01-01T00:00:00Z') - 5 * 60_000) / 1000));
    expect(demo.requests.map((request) => [request.query.with, request.query['filter[updated_at][from]']])).toEqual([
      ['contacts,loss_reason,source_id', since],
      ['only_deleted', since],
    ]);
    expect(demo.requests[0]?.query['order[updated_at]']).toBe('asc');
    expect(report.kind).toBe('incremental');
  });
});
