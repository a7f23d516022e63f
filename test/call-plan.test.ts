/**
 * The upstream call plan (src/plan.ts) and the per-request allowance (transport/allowance.ts): a
 * request that would spend more than LEADGRAPH_MAX_UPSTREAM_CALLS_PER_REQUEST is refused before any
 * call, with its estimate; one whose estimate was too low keeps what it got (partial data); lookups
 * of hundreds of leads cost a handful of calls, with their pipelines, on both sources.
 */
import { parse } from 'graphql';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { planCalls } from '../src/plan.js';
import { subgraphSchema } from '../src/schema/index.js';
import { expectedLeads, type Harness, startHarness } from './support/harness.js';
import { startTestUpstream, type TestUpstream } from './support/test-upstream.js';

interface Body {
  data?: Record<string, unknown> | null;
  errors?: { message: string; path?: (string | number)[]; extensions?: Record<string, unknown> }[];
}

const ask = async (harness: Harness, query: string, variables?: Record<string, unknown>): Promise<Body> =>
  (await (await harness.post({ query, variables })).json()) as Body;

const USERS_WITH_LEADS = '{ users { name leads(first: 2) { edges { node { kommoId } } } } }';

describe('the upstream call plan', () => {
  let demo: TestUpstream;
  let harness: Harness;

  beforeAll(async () => {
    demo = await startTestUpstream({ leads: 600, seed: 11 });
    harness = await startHarness({ upstream: demo });
  });
  afterAll(async () => {
    await harness.close();
    await demo.close();
  });
  beforeEach(() => demo.reset());

  it('refuses a connection under every user before any lead call, with the estimate and the limit', async () => {
    const response = await harness.post({ query: USERS_WITH_LEADS });
    // Refused before it runs, like the query limits: 400 under application/graphql-response+json (the harness's Accept).
    expect(response.status).toBe(400);
    const body = (await response.json()) as Body;
    const users = demo.data.userRows.length;
    expect(body.data ?? null).toBeNull();
    expect(body.errors).toHaveLength(1);
    expect(body.errors?.[0]?.extensions).toMatchObject({
      code: 'UPSTREAM_CALL_LIMIT',
      limit: 20,
      // One block per user's page, plus the users table.
      estimate: users + 1,
      plan: { leadBlocks: users, leadLookups: 0, tables: ['users'] },
    });
    expect(body.errors?.[0]?.message).toMatch(/LEADGRAPH_MAX_UPSTREAM_CALLS_PER_REQUEST/);
    // It learned how many users there are (a read the query needs anyway), and called nothing else.
    expect(demo.count('leads')).toBe(0);
    expect(demo.count('users')).toBe(1);
    // The next time it knows: refused with no upstream call at all.
    demo.reset();
    expect((await ask(harness, USERS_WITH_LEADS)).errors?.[0]?.extensions?.code).toBe('UPSTREAM_CALL_LIMIT');
    expect(demo.count()).toBe(0);
    const metrics = await (await fetch(harness.url.replace('/graphql', '/metrics'))).text();
    expect(metrics).toMatch(/leadgraph_upstream_call_limit_total\{stage="plan"\} 2/);
  });

  it('lets a request within the limit run, and counts what the caches answer as free', async () => {
    const body = await ask(harness, '{ pipelines { name leads(first: 3) { edges { node { kommoId status { name } } } } } }');
    expect(body.errors).toBeUndefined();
    const pipelines = body.data?.pipelines as { leads: { edges: unknown[] } }[];
    expect(pipelines.length).toBeGreaterThan(1);
    // One pipelines call and one leads block per pipeline.
    expect(demo.count('pipelines')).toBe(1);
    expect(demo.count('leads')).toBe(pipelines.length);
  });

  it('checks arguments before it learns or refuses: a bad nested filter is BAD_USER_INPUT and costs nothing', async () => {
    const body = await ask(harness, '{ users { leads(filter: { tagName: " " }) { edges { cursor } } } }');
    expect(body.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    expect(demo.count()).toBe(0);
  });

  it('a fragment explosion is planned in linear time (the cost limit refuses it first)', () => {
    const levels = 20;
    const fragments = Array.from(
      { length: levels },
      (_, i) => `fragment F${i} on Lead { kommoId ${i + 1 < levels ? `...F${i + 1} ...F${i + 1}` : 'pipeline { name }'} }`,
    ).join('\n');
    const document = parse(`{ leads(first: 1) { edges { node { ...F0 } } } }\n${fragments}`);
    const plan = planCalls({
      schema: subgraphSchema,
      document,
      source: { blockSize: 500, lookupCalls: (ids) => ids },
      sizes: {},
      defaultPageSize: 50,
      maxPageSize: 250,
    });
    // 2^19 spreads of the last fragment, but one pipelines table and one block: the plan sees through the repetition.
    expect(plan).toMatchObject({ calls: 2, blocks: 1, leadIds: 0, tables: ['pipelines'] });
  });
});

describe('the plan reads the document as execution will', () => {
  const plan = (text: string, variables?: Record<string, unknown>) =>
    planCalls({
      schema: subgraphSchema,
      document: parse(text),
      variables,
      source: { blockSize: 500, lookupCalls: (ids) => ids },
      sizes: { users: 30, pipelines: 4, statuses: 20, statusesPerPipeline: 6 },
      defaultPageSize: 50,
      maxPageSize: 250,
    });

  it('leaves out what @include and @skip leave out, with the variables and their defaults', () => {
    const text = 'query U($more: Boolean = false) { users { name leads(first: 2) @include(if: $more) { edges { cursor } } } }';
    expect(plan(text).calls).toBe(1);
    expect(plan(text, { more: true }).calls).toBe(31);
    expect(plan('{ users { leads(first: 2) @skip(if: true) { edges { cursor } } } }').calls).toBe(1);
  });

  it("counts a variable's default like a value sent", () => {
    const ids = Array.from({ length: 7 }, (_, i) => Buffer.from(`Lead:${30000001 + i}`).toString('base64'));
    expect(plan(`query Q($ids: [ID!]! = ${JSON.stringify(ids)}) { nodes(ids: $ids) { id } }`)).toMatchObject({ calls: 7, leadIds: 7 });
  });

  it('counts a field repeated with the same arguments once, and each distinct id once', () => {
    const aliases = Array.from({ length: 11 }, (_, i) => `a${i}: leads(first: 10) { totalCount }`).join(' ');
    expect(plan(`{ ${aliases} }`).calls).toBe(2); // one block, one more for totalCount
    expect(plan('{ a: leads(first: 10) { totalCount } b: leads(first: 11) { totalCount } }').calls).toBe(4);
    expect(plan('{ a: lead(kommoId: "1") { name } b: lead(kommoId: "1") { name } c: lead(kommoId: "2") { name } }').leadIds).toBe(2);
    // The same nested field under two different parents is two reads.
    expect(
      plan(
        '{ a: pipeline(kommoId: "1") { leads(first: 5) { edges { cursor } } } b: pipeline(kommoId: "2") { leads(first: 5) { edges { cursor } } } }',
      ).calls,
    ).toBe(3);
  });

  it('finds totalCount through fragments', () => {
    expect(plan('{ leads(first: 10) { ... on LeadConnection { totalCount } } }').calls).toBe(2);
    expect(plan('{ leads(first: 10) { ...C } } fragment C on LeadConnection { totalCount }').calls).toBe(2);
  });
});

describe('past the allowance while running: partial data', () => {
  let demo: TestUpstream;

  beforeAll(async () => {
    demo = await startTestUpstream({ leads: 600, seed: 3 });
  });
  afterAll(() => demo.close());

  it('keeps the fields that resolved and nulls the one that needed more calls than planned', async () => {
    // Blocks of 10 rows: leads with several tags take several rows, so 40 leads span more blocks than
    // the plan's ceil(41 / 10) = 5 (it cannot know the rows per lead beforehand).
    const pipelineId = String(demo.data.leadRows[0]?.pipeline_id);
    const rows = demo.data.leadRows.filter((row) => row.pipeline_id === pipelineId && row.is_deleted !== true);
    const leads = new Set(rows.map((row) => row.lead_id));
    expect(leads.size).toBeGreaterThan(41);
    // The rows of its first 41 leads really span more than five blocks of 10.
    const firstLeads = [...leads].slice(0, 41);
    expect(rows.filter((row) => firstLeads.includes(row.lead_id as string)).length).toBeGreaterThan(50);
    const query = `{ users { name } owner: pipeline(kommoId: "${pipelineId}") { name leads(first: 40) { edges { node { kommoId } } } } }`;
    const probe = await startHarness({
      upstream: demo,
      env: { LEADGRAPH_UPSTREAM_PAGE_SIZE: '10', LEADGRAPH_MAX_UPSTREAM_CALLS_PER_REQUEST: '1' },
    });
    const estimate = (await ask(probe, query)).errors?.[0]?.extensions?.estimate as number;
    await probe.close();
    expect(estimate).toBe(2 + 5); // the users and pipelines tables, and five blocks

    const exact = await startHarness({
      upstream: demo,
      env: { LEADGRAPH_UPSTREAM_PAGE_SIZE: '10', LEADGRAPH_MAX_UPSTREAM_CALLS_PER_REQUEST: String(estimate) },
    });
    demo.reset();
    const body = await ask(exact, query);
    const metrics = await (await fetch(exact.url.replace('/graphql', '/metrics'))).text();
    await exact.close();
    expect(metrics).toMatch(/leadgraph_upstream_call_limit_total\{stage="execution"\} [1-9]/);
    const rowsNeeded = demo.requests.length;
    // The request made exactly its allowance of calls, no more.
    expect(rowsNeeded).toBe(estimate);
    expect(((body.data?.users ?? []) as unknown[]).length).toBeGreaterThan(0);
    expect(body.data?.owner).toBeNull();
    expect(body.errors).toHaveLength(1);
    expect(body.errors?.[0]).toMatchObject({
      path: ['owner', 'leads'],
      extensions: { code: 'UPSTREAM_CALL_LIMIT', limit: estimate, estimate },
    });
  });
});

describe('hundreds of leads by id cost a handful of calls, with their pipelines', () => {
  let demo: TestUpstream;
  let v4: Harness;
  let kommo: Harness;
  const query = `query($representations: [_Any!]!) { _entities(representations: $representations) {
    ... on Lead { kommoId name pipeline { name } status { name } responsibleUser { name } } } }`;

  beforeAll(async () => {
    demo = await startTestUpstream({ leads: 1500, seed: 9 });
    v4 = await startHarness({ upstream: demo });
    kommo = await startHarness({ upstream: demo, api: 'kommo' });
  });
  afterAll(async () => {
    await v4.close();
    await kommo.close();
    await demo.close();
  });

  for (const source of ['v4', 'kommo'] as const) {
    it(`resolves 500 Lead representations on ${source} within a handful of calls`, async () => {
      const harness = source === 'v4' ? v4 : kommo;
      const live = expectedLeads(demo).slice(0, 500);
      expect(live).toHaveLength(500);
      demo.reset();
      const body = await ask(harness, query, { representations: live.map(({ kommoId }) => ({ __typename: 'Lead', kommoId })) });
      expect(body.errors).toBeUndefined();
      const entities = body.data?._entities as ({ kommoId: string; pipeline: { name: string } | null } | null)[];
      expect(entities.map((entity) => entity?.kommoId)).toEqual(live.map(({ kommoId }) => kommoId));
      expect(entities.every((entity) => entity?.pipeline?.name)).toBe(true);
      // V4: the table's blocks (and at most four checks of missing ids); Kommo: 250 ids a call. Plus the two tables.
      expect(demo.count()).toBeLessThanOrEqual(source === 'v4' ? 12 : 5);
      expect(demo.count(source === 'v4' ? 'pipelines' : 'kommo:pipelines')).toBe(1);
    });
  }
});
