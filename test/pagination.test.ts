import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LeadFilter, LeadsPageDocument, type LeadsPageQuery } from './generated/graphql.js';
import { expectedLeads, type Harness, startHarness } from './support/harness.js';
import { startTestUpstream } from './support/test-upstream.js';

type Page = LeadsPageQuery['leads'];
const MAX_PAGES = 4000;

async function page(
  harness: Harness,
  variables: { first?: number; after?: string | null; last?: number; before?: string | null; filter?: LeadFilter },
): Promise<Page> {
  const result = await harness.execute(LeadsPageDocument, variables);
  expect(result.errors).toBeUndefined();
  return (result.data as LeadsPageQuery).leads;
}

/** Pages forward with `first` until hasNextPage is false; returns lead ids with sorted tag ids. */
async function pageForward(harness: Harness, size: number, filter?: LeadFilter) {
  const seen: { kommoId: string; tagIds: string[] }[] = [];
  let after: string | null = null;
  for (let i = 0; i < MAX_PAGES; i += 1) {
    const result: Page = await page(harness, { first: size, after, filter });
    expect(result.edges.length).toBeLessThanOrEqual(size);
    expect(result.pageInfo.hasPreviousPage).toBe(after !== null);
    for (const edge of result.edges) seen.push({ kommoId: edge.node.kommoId, tagIds: edge.node.tags.map((t) => t.kommoId).sort() });
    if (!result.pageInfo.hasNextPage) return seen;
    expect(result.edges).toHaveLength(size);
    after = result.pageInfo.endCursor ?? null;
  }
  throw new Error('paging forward did not end');
}

/** Pages backward with `last` from the end until hasPreviousPage is false; returns leads in upstream order. */
async function pageBackward(harness: Harness, size: number, filter?: LeadFilter) {
  const chunks: { kommoId: string; tagIds: string[] }[][] = [];
  let before: string | null = null;
  for (let i = 0; i < MAX_PAGES; i += 1) {
    const result: Page = await page(harness, { last: size, before, filter });
    expect(result.edges.length).toBeLessThanOrEqual(size);
    expect(result.pageInfo.hasNextPage).toBe(before !== null);
    chunks.unshift(result.edges.map((edge) => ({ kommoId: edge.node.kommoId, tagIds: edge.node.tags.map((t) => t.kommoId).sort() })));
    if (!result.pageInfo.hasPreviousPage) return chunks.flat();
    expect(result.edges).toHaveLength(size);
    before = result.pageInfo.startCursor ?? null;
  }
  throw new Error('paging backward did not end');
}

const sorted = (leads: { kommoId: string; tagIds: string[] }[]) => leads.map((lead) => ({ ...lead, tagIds: [...lead.tagIds].sort() }));

describe('paging a small result over many small upstream blocks (block size 10)', () => {
  let harness: Harness;
  beforeAll(async () => {
    // A 250-lead page over blocks of 10 rows is 26 blocks and more: past the default allowance on purpose.
    harness = await startHarness({
      demo: { leads: 150, seed: 7 },
      env: { LEADGRAPH_UPSTREAM_PAGE_SIZE: '10', LEADGRAPH_MAX_UPSTREAM_CALLS_PER_REQUEST: '100' },
    });
  });
  afterAll(() => harness.close());

  for (const size of [1, 7, 50, 250]) {
    it(`forward with first: ${size} yields every lead exactly once, in upstream order, with all its tags`, async () => {
      const expected = sorted(expectedLeads(harness.demo));
      expect(expected.length).toBeGreaterThan(130);
      expect(await pageForward(harness, size)).toEqual(expected);
    });

    it(`backward with last: ${size} yields every lead exactly once, in upstream order`, async () => {
      expect(await pageBackward(harness, size)).toEqual(sorted(expectedLeads(harness.demo)));
    });
  }

  it('includeDeleted pages through deleted leads too', async () => {
    const all = sorted(expectedLeads(harness.demo, () => true));
    expect(all.length).toBeGreaterThan(expectedLeads(harness.demo).length);
    expect(await pageForward(harness, 7, { includeDeleted: true })).toEqual(all);
  });

  it('counts leads exactly when the result fits in two upstream blocks, and gives the row total as an upper bound', async () => {
    // A stage whose rows span two blocks of 10 (11 to 20 rows): counted exactly, across the block boundary.
    const rowsPerStage = new Map<string, number>();
    for (const row of harness.demo.data.leadRows) {
      const key = `${row.pipeline_id}:${row.status_id}`;
      rowsPerStage.set(key, (rowsPerStage.get(key) ?? 0) + 1);
    }
    const stage = [...rowsPerStage].find(([, rows]) => rows > 10 && rows <= 20);
    expect(stage).toBeDefined();
    const [pipelineId, statusId] = (stage?.[0] ?? ':').split(':') as [string, string];
    const expected = expectedLeads(
      harness.demo,
      (row) => row.is_deleted !== true && row.pipeline_id === pipelineId && row.status_id === statusId,
    );
    expect(expected.length).toBeGreaterThan(2);
    const small = await page(harness, { first: 2, filter: { pipelineId, statusId } });
    expect(small.totalCountUpperBound).toBe(stage?.[1]);
    expect(small.totalCount).toBe(expected.length);

    // The whole result spans many blocks: no exact count, only the upper bound.
    const large = await page(harness, { first: 2 });
    expect(large.totalCountUpperBound).toBe(harness.demo.data.leadRows.length);
    expect(large.totalCount).toBeNull();
  });
});

describe('paging the default demo data (3000 leads, upstream blocks of 500)', () => {
  let harness: Harness;
  beforeAll(async () => {
    harness = await startHarness();
  });
  afterAll(() => harness.close());

  it('forward with first: 250 and backward with last: 250 agree with the upstream rows', async () => {
    const expected = sorted(expectedLeads(harness.demo));
    expect(await pageForward(harness, 250)).toEqual(expected);
    expect(await pageBackward(harness, 250)).toEqual(expected);
  });

  it('a window costs only the upstream blocks that cover it', async () => {
    harness.demo.reset();
    await page(harness, { first: 50 });
    expect(harness.demo.count('leads')).toBe(1);
    expect(harness.demo.requests[0]?.query).toMatchObject({ page: '1', limit: '500' });
  });

  it('totalCountUpperBound is the upstream row total and totalCount stays null for a large result', async () => {
    const result = await page(harness, { first: 1 });
    expect(result.totalCountUpperBound).toBe(harness.demo.data.leadRows.length);
    expect(result.totalCount).toBeNull();
  });
});

describe('a lead whose rows straddle an upstream block boundary', () => {
  let harness: Harness;
  let lead: { kommoId: string; tagIds: string[] };
  let boundary: number;

  beforeAll(async () => {
    const demo = await startTestUpstream({ leads: 400, seed: 11 });
    const rows = demo.data.leadRows;
    // The first non-deleted lead with 3+ rows at least 40 rows in: put a block boundary after its first row.
    const index = rows.findIndex(
      (row, i) => i > 40 && row.is_deleted === false && rows[i + 2]?.lead_id === row.lead_id && rows[i - 1]?.lead_id !== row.lead_id,
    );
    expect(index).toBeGreaterThan(40);
    boundary = index + 1;
    lead = expectedLeads(demo).find((candidate) => candidate.kommoId === String(rows[index]?.lead_id)) as typeof lead;
    expect(lead.tagIds.length).toBeGreaterThanOrEqual(3);
    harness = await startHarness({ upstream: demo, env: { LEADGRAPH_UPSTREAM_PAGE_SIZE: String(boundary) } });
  });
  afterAll(async () => {
    await harness.close();
    await harness.demo.close();
  });

  it('appears once, with all its tags, and the next page does not repeat it', async () => {
    const expected = sorted(expectedLeads(harness.demo));
    const position = expected.findIndex((candidate) => candidate.kommoId === lead.kommoId);
    const first = await page(harness, { first: position + 1 });
    const last = first.edges.at(-1);
    expect(last?.node.kommoId).toBe(lead.kommoId);
    expect(last?.node.tags.map((t) => t.kommoId).sort()).toEqual([...lead.tagIds].sort());
    expect(first.edges.filter((edge) => edge.node.kommoId === lead.kommoId)).toHaveLength(1);

    const next = await page(harness, { first: 3, after: first.pageInfo.endCursor });
    expect(next.edges.map((edge) => edge.node.kommoId)).toEqual(expected.slice(position + 1, position + 4).map((l) => l.kommoId));
  });

  it('backward paging from the lead after it also merges it into one lead', async () => {
    const expected = sorted(expectedLeads(harness.demo));
    const position = expected.findIndex((candidate) => candidate.kommoId === lead.kommoId);
    const forward = await page(harness, { first: position + 2 });
    const before = forward.edges.at(-1)?.cursor;
    const back = await page(harness, { last: 2, before });
    expect(back.edges.map((edge) => edge.node.kommoId)).toEqual(expected.slice(position - 1, position + 1).map((l) => l.kommoId));
    expect(back.edges[1]?.node.tags.map((t) => t.kommoId).sort()).toEqual([...lead.tagIds].sort());
  });
});

describe('with the `meta` envelope (no totals)', () => {
  let harness: Harness;
  beforeAll(async () => {
    harness = await startHarness({
      demo: { leads: 120, seed: 3, envelopes: { leads: 'meta' } },
      env: { LEADGRAPH_UPSTREAM_PAGE_SIZE: '25' },
    });
  });
  afterAll(() => harness.close());

  it('pages forward and backward from a cursor correctly, with null totals', async () => {
    const expected = sorted(expectedLeads(harness.demo));
    expect(await pageForward(harness, 9)).toEqual(expected);
    const first = await page(harness, { first: 30 });
    expect(first.totalCount).toBeNull();
    expect(first.totalCountUpperBound).toBeNull();
    const back = await page(harness, { last: 5, before: first.pageInfo.endCursor });
    expect(back.edges.map((edge) => edge.node.kommoId)).toEqual(expected.slice(24, 29).map((lead) => lead.kommoId));
  });

  it('`last` without `before` is a BAD_USER_INPUT that says what to do instead', async () => {
    const result = await harness.execute(LeadsPageDocument, { last: 5 });
    expect(result.data).toBeNull();
    expect(result.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    expect(result.errors?.[0]?.message).toMatch(/"last" without "before"/);
  });
});

describe('another V4-compatible upstream that caps limit at 20', () => {
  let harness: Harness;
  beforeAll(async () => {
    harness = await startHarness({ demo: { leads: 90, seed: 5, maxLimit: 20 }, env: { LEADGRAPH_UPSTREAM_PAGE_SIZE: '20' } });
  });
  afterAll(() => harness.close());

  it('pages through every lead with a block size it accepts', async () => {
    expect(await pageForward(harness, 13)).toEqual(sorted(expectedLeads(harness.demo)));
    expect(await pageBackward(harness, 13)).toEqual(sorted(expectedLeads(harness.demo)));
  });

  it('reads the reference tables whole by following hasNextPage, once per request', async () => {
    harness.demo.reset();
    const response = await harness.post({
      query: '{ leads(first: 60) { edges { node { pipeline { name } status { name } responsibleUser { name } } } } }',
    });
    const body = (await response.json()) as { errors?: unknown; data: { leads: { edges: { node: { pipeline: unknown } }[] } } };
    expect(body.errors).toBeUndefined();
    expect(body.data.leads.edges.every((edge) => edge.node.pipeline !== null)).toBe(true);
    // 36 users and 27 pipeline rows at 20 rows a page: 2 pages each, fetched once for the whole response.
    expect(harness.demo.count('users')).toBe(2);
    expect(harness.demo.count('pipelines')).toBe(2);
  });

  it('with a block size it does not accept, refuses to page instead of skipping rows', async () => {
    const strict = await startHarness({ upstream: harness.demo, env: { LEADGRAPH_UPSTREAM_PAGE_SIZE: '50' } });
    try {
      const result = await strict.execute(LeadsPageDocument, { first: 5 });
      expect(result.errors?.[0]?.extensions?.code).toBe('UPSTREAM_BAD_RESPONSE');
      expect(result.errors?.[0]?.message).toMatch(/LEADGRAPH_UPSTREAM_PAGE_SIZE/);
    } finally {
      await strict.close();
    }
  });
});
