/**
 * Compiled queries (graphql-jit, LEADGRAPH_JIT) answer exactly what the standard executor answers:
 * two gateways on one demo upstream, one compiled and one not, get the same operations, and their
 * response bodies must be identical, data and errors alike. An operation is compiled the second time
 * it runs, so each is sent twice. Also: which operations are compiled, and when.
 */
import * as jit from 'graphql-jit';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { LeadAdapter } from '../src/sources/adapter.js';
import { type Harness, startHarness } from './support/harness.js';
import { startTestUpstream, type TestUpstream } from './support/test-upstream.js';

vi.mock('graphql-jit', async (original) => {
  const actual = await original<typeof import('graphql-jit')>();
  return { ...actual, compileQuery: vi.fn(actual.compileQuery) };
});
const compileQuery = vi.mocked(jit.compileQuery);

const EVERYTHING = `fragment LeadFields on Lead {
  __typename id kommoId name price groupId score laborCostSeconds createdAt updatedAt closedAt closestTaskAt isDeleted
  pipeline { id kommoId name isMain isArchived sort } status { id kommoId name kind color sort isEditable pipeline { name } }
  responsibleUser { id kommoId name email isActive isAdmin role { kommoId name } group { kommoId name } }
  createdBy { name } updatedBy { name } lossReason { kommoId name } source { kommoId name } contacts { kommoId }
  tags { kommoId name color } customFields { fieldId name code type values { value enumId enumCode } }
}`;

/** Operations covering the schema: connections both ways, filters, lookups, interfaces, directives, aliases, federation, errors. */
const OPERATIONS: { name: string; query: string; variables?: Record<string, unknown> }[] = [
  {
    name: 'a 250-lead page with everything',
    query: `${EVERYTHING} { leads(first: 250) { totalCount totalCountUpperBound pageInfo { hasNextPage hasPreviousPage startCursor endCursor } edges { cursor node { ...LeadFields } } } }`,
  },
  {
    name: 'the last page, backward, with deleted leads',
    query: `${EVERYTHING} query($n: Int) { leads(last: $n, filter: { includeDeleted: true }) { pageInfo { hasPreviousPage startCursor } edges { node { ...LeadFields } } } }`,
    variables: { n: 30 },
  },
  {
    name: 'filters, a date range in variables, @include and @skip, aliases',
    query: `query($from: DateTime, $withTags: Boolean!, $noPrice: Boolean!) {
      won: leads(first: 20, filter: { createdAt: { from: $from } }) { edges { node { kommoId tags @include(if: $withTags) { name } price @skip(if: $noPrice) } } }
      other: leads(first: 5, filter: { tagName: "referral" }) { edges { node { kommoId tags { name } } } }
    }`,
    variables: { from: '2025-03-01T00:00:00Z', withTags: true, noPrice: true },
  },
  {
    name: 'pipelines, stages and users with their own connections',
    query: `{ pipelines { id name statuses { name kind leads(first: 3) { totalCount edges { node { kommoId } } } } }
      users { id name email leads(first: 2) { edges { node { kommoId responsibleUser { name } } } } } }`,
  },
  {
    name: 'lookups by Kommo id and node ids, found and not found',
    query: `{ lead(kommoId: "20000002") { name tags { name } } missing: lead(kommoId: "1") { name }
      pipeline(kommoId: "7000001") { name } user(kommoId: "9000033") { name }
      node(id: "TGVhZDoyMDAwMDAwMw==") { __typename id ... on Lead { name } }
      nodes(ids: ["UGlwZWxpbmU6NzAwMDAwMQ==", "VXNlcjo5MDAwMDMz", "TGVhZDox"]) { __typename id ... on Pipeline { name } ... on User { email } } }`,
  },
  {
    name: 'federation: _service and _entities',
    query: `query($representations: [_Any!]!) { _service { sdl } _entities(representations: $representations) {
      __typename ... on Lead { kommoId name } ... on Pipeline { kommoId name } ... on User { kommoId name } } }`,
    variables: {
      representations: [
        { __typename: 'Lead', kommoId: '20000002' },
        { __typename: 'Pipeline', kommoId: '7000001' },
        { __typename: 'User', kommoId: '9000033' },
        { __typename: 'User', kommoId: 'not-an-id' },
      ],
    },
  },
  {
    name: 'a bad cursor (an error in one field, data in the others)',
    query: `{
      pipelines { name }
      pipeline(kommoId: "7000001") {
        name
        leads(first: 2, after: "bm90LWEtY3Vyc29y") { edges { node { kommoId } } }
      }
    }`,
  },
  {
    // A resolver's BAD_USER_INPUT (the call plan checks `lead(kommoId:)` before execution, not global ids).
    name: 'a bad id argument',
    query: `{ node(id: "bm9wZQ==") { id } }`,
  },
];

describe('compiled queries (LEADGRAPH_JIT)', () => {
  let demo: TestUpstream;
  let compiled: Harness;
  let standard: Harness;

  beforeAll(async () => {
    demo = await startTestUpstream();
    // Some queries here put a connection under every pipeline, stage and user: more calls than the default allowance.
    const allowance = { LEADGRAPH_MAX_UPSTREAM_CALLS_PER_REQUEST: '200' };
    compiled = await startHarness({ upstream: demo, env: allowance });
    standard = await startHarness({ upstream: demo, env: { ...allowance, LEADGRAPH_JIT: 'false' } });
  });
  afterAll(async () => {
    await compiled?.close();
    await standard?.close();
    await demo?.close();
  });

  /** The same request to a compiled and a standard gateway, at once. */
  const bothAnswer = async (fast: Harness, reference: Harness, body: unknown) => {
    const [a, b] = await Promise.all([fast.post(body), reference.post(body)]);
    return { compiled: { status: a.status, text: await a.text() }, standard: { status: b.status, text: await b.text() } };
  };
  const bodies = (body: unknown) => bothAnswer(compiled, standard, body);

  for (const operation of OPERATIONS) {
    it(`answers ${operation.name} exactly as the standard executor does`, async () => {
      compileQuery.mockClear();
      const request = { query: operation.query, variables: operation.variables };
      const first = await bodies(request);
      expect(first.compiled.text).toBe(first.standard.text);
      expect(compileQuery).not.toHaveBeenCalled(); // the first run is interpreted
      const { compiled: fast, standard: reference } = await bodies(request);
      expect(compileQuery).toHaveBeenCalledTimes(1);
      expect(fast.status).toBe(reference.status);
      expect(fast.text).toBe(reference.text);
      // Not vacuous: every operation returns data.
      expect(JSON.parse(fast.text).data).toBeTruthy();
    });
  }

  it('compiles an operation on its second run, once, then reuses it for new variables', async () => {
    compileQuery.mockClear();
    const query = 'query($n: Int) { leads(first: $n) { edges { node { kommoId } } } }';
    for (const n of [1, 2, 3, 4]) {
      const { compiled: fast, standard: reference } = await bodies({ query, variables: { n } });
      expect(fast.text).toBe(reference.text);
      expect(JSON.parse(fast.text).data.leads.edges).toHaveLength(n);
    }
    expect(compileQuery).toHaveBeenCalledTimes(1);
  });

  it('leaves variables that do not coerce, and operations that are not queries, to the standard executor', async () => {
    compileQuery.mockClear();
    const query = 'query($to: DateTime) { leads(first: 1, filter: { createdAt: { to: $to } }) { edges { node { kommoId } } } }';
    for (const to of ['2026-12-31T00:00:00Z', '31/12/2026', '2026-12-31T00:00:00Z', '31/12/2026']) {
      const answer = await bodies({ query, variables: { to } });
      expect(answer.compiled).toEqual(answer.standard);
      if (to.includes('/')) expect(JSON.parse(answer.compiled.text).errors[0].message).toMatch(/DateTime must be/);
      else expect(JSON.parse(answer.compiled.text).data.leads.edges).toHaveLength(1);
    }
    expect(compileQuery).toHaveBeenCalledTimes(1); // compiled once; the bad variables always ran interpreted
    compileQuery.mockClear();
    for (let run = 0; run < 3; run += 1) {
      const mutation = await bodies({ query: 'mutation { x }' });
      expect(mutation.compiled).toEqual(mutation.standard);
    }
    expect(compileQuery).not.toHaveBeenCalled();
  });

  it('gives the same partial result when the upstream fails under one field', async () => {
    demo.setFaults([{ kind: 'error', status: 503, endpoints: ['users'] }]);
    try {
      const query = '{ pipelines { name } user(kommoId: "9000033") { name } }';
      await bodies({ query }); // the first run is interpreted; the second compiled
      const { compiled: fast, standard: reference } = await bodies({ query });
      expect(fast.text).toBe(reference.text);
      const body = JSON.parse(fast.text);
      expect(body.data.user).toBeNull();
      expect(body.data.pipelines.length).toBeGreaterThan(0);
      expect(body.errors[0]).toMatchObject({
        path: ['user'],
        locations: [{ line: 1, column: 22 }],
        extensions: { code: 'UPSTREAM_UNAVAILABLE' },
      });
    } finally {
      demo.setFaults([]);
    }
  });

  it('masks an unexpected error the same way, and logs its detail', async () => {
    // A source that fails with a programming error, not a domain error.
    const failing = {
      wrapAdapter: (source: LeadAdapter) => ({
        ...source,
        listUsers: () => Promise.reject(new TypeError('detail at /srv/leadgraph/secret-path')),
        getUsers: () => Promise.reject(new TypeError('detail at /srv/leadgraph/secret-path')),
      }),
    };
    const fast = await startHarness({ upstream: demo, ...failing });
    const reference = await startHarness({ upstream: demo, env: { LEADGRAPH_JIT: 'false' }, ...failing });
    try {
      compileQuery.mockClear();
      const query = '{ pipelines { name } user(kommoId: "9000033") { name } }';
      const texts: string[] = [];
      for (let run = 0; run < 2; run += 1) {
        const answer = await bothAnswer(fast, reference, { query });
        expect(answer.compiled).toEqual(answer.standard);
        texts.push(answer.compiled.text);
      }
      expect(compileQuery).toHaveBeenCalledTimes(1); // the second run was compiled
      const body = JSON.parse(texts[1] as string);
      expect(body.errors[0]).toMatchObject({ message: 'Unexpected error.', path: ['user'], extensions: { code: 'INTERNAL_SERVER_ERROR' } });
      expect(texts.join('')).not.toContain('secret-path');
      expect(fast.logs.filter((line) => line.includes('secret-path'))).toHaveLength(2);
    } finally {
      await fast.close();
      await reference.close();
    }
  });

  it('still looks ahead when compiled: the reference tables are fetched in parallel with the leads block', async () => {
    const query = '{ leads(first: 5) { edges { node { kommoId pipeline { name } status { name } responsibleUser { name } } } } }';
    await compiled.post({ query }); // the first run is interpreted
    compileQuery.mockClear();
    demo.setLatency(200); // long enough that the three calls overlap even on a loaded machine
    demo.reset();
    try {
      const body = JSON.parse(await (await compiled.post({ query })).text());
      expect(compileQuery).toHaveBeenCalledTimes(1);
      expect(body.errors).toBeUndefined();
      expect([demo.count('leads'), demo.count('pipelines'), demo.count('users')]).toEqual([1, 1, 1]);
      expect(demo.maxInFlight).toBe(3);
    } finally {
      demo.setLatency(0);
    }
  });
});
