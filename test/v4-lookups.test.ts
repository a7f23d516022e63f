import { describe, expect, it } from 'vitest';
import { isUnresolved } from '../src/sources/adapter.js';
import { createV4Adapter } from '../src/sources/v4/adapter.js';
import type { JsonGetter, UpstreamRequest } from '../src/transport/http.js';

const row = (leadId: number, tag: number | null = null) => ({
  lead_id: String(leadId),
  lead_name: `Lead ${leadId}`,
  status_id: '142',
  pipeline_id: '7000001',
  price: 10,
  created_at: '2026-01-01T00:00:00.000Z',
  updated_at: '2026-01-02T00:00:00.000Z',
  is_deleted: false,
  tags: tag === null ? '' : JSON.stringify([{ id: tag, name: `t${tag}`, color: null }]),
  tag_id: tag === null ? null : String(tag),
  tag_name: tag === null ? null : `t${tag}`,
});

/** A V4 leads table that moves between reads: `pages` is what each page answers now; `requests` records every call. */
function movingTable(pages: Record<number, ReturnType<typeof row>[]>, totalRows: number) {
  const requests: Record<string, string | readonly string[]>[] = [];
  const transport: JsonGetter = {
    async getJson<T>(request: UpstreamRequest<T>): Promise<T> {
      requests.push(request.query);
      const { leadId, page } = request.query as Record<string, string>;
      const all = Object.values(pages).flat();
      const rows = leadId ? all.filter((candidate) => candidate.lead_id === leadId) : (pages[Number(page)] ?? []);
      const body = { data: rows, pagination: { currentPage: Number(page), totalRecords: leadId ? rows.length : totalRows, limit: 4 } };
      return request.decode(body);
    },
  };
  return { transport, requests };
}

describe('V4 lookups of many leads by id', () => {
  it('read the table blocks, merge a lead split across two blocks, and ask for ids the moving table no longer held', async () => {
    // The head says 8 rows (2 blocks of 4); lead 9 was inserted since, so it sits in a block 3 the table read does not reach.
    const { transport, requests } = movingTable(
      {
        1: [row(1), row(2), row(3), row(4, 101)],
        2: [row(4, 102), row(5), row(6), row(7)],
        3: [row(9)],
      },
      8,
    );
    const adapter = createV4Adapter({ transport, workspaceId: 'w', blockSize: 4, lookupConcurrency: 2 });
    const leads = await adapter.getLeads(['1', '4', '5', '7', '9', '404']);
    expect(leads.map((lead) => lead.kommoId).sort()).toEqual(['1', '4', '5', '7', '9']);
    const four = leads.find((lead) => lead.kommoId === '4');
    expect(four && !isUnresolved(four) ? four.tags.map((tag) => tag.kommoId) : null).toEqual(['101', '102']);
    expect(requests.filter((query) => query.page !== undefined && query.leadId === undefined).map((query) => query.page)).toEqual([
      '1',
      '2',
    ]);
    expect(requests.flatMap((query) => (query.leadId ? [query.leadId] : []))).toEqual(['9', '404']);
  });

  it('a few ids, or a table with more blocks than ids, cost one call per id (plus the head block for five or more)', async () => {
    const pages = { 1: [row(1), row(2), row(3), row(4)], 2: [row(5), row(6), row(7), row(8)], 3: [row(9), row(10), row(11), row(12)] };
    const few = movingTable(pages, 400);
    await createV4Adapter({ transport: few.transport, workspaceId: 'w', blockSize: 4, lookupConcurrency: 2 }).getLeads(['5', '6']);
    expect(few.requests.map((query) => query.leadId)).toEqual(['5', '6']);
    const many = movingTable(pages, 400); // 100 blocks: more than the ids
    const leads = await createV4Adapter({ transport: many.transport, workspaceId: 'w', blockSize: 4, lookupConcurrency: 2 }).getLeads([
      '1',
      '2',
      '5',
      '9',
      '10',
    ]);
    expect(leads.map((lead) => lead.kommoId).sort()).toEqual(['1', '10', '2', '5', '9']);
    // The head block answered 1 and 2; the rest went one id a call.
    expect(many.requests.map((query) => query.leadId ?? `page ${query.page}`)).toEqual(['page 1', '5', '9', '10']);
  });
});
