/**
 * Who reaches the lead index and what they get (real HTTP on 127.0.0.1): before a tenant's index is
 * ready (pass-through where it can, INDEX_NOT_READY with retryAfter where it cannot), with
 * LEADGRAPH_INDEX=off (pass-through as before, INDEX_UNAVAILABLE for what needs the index), several
 * tenants (each its own index; a wrong secret reads nothing), the call plan counting the index as
 * free, and hostile inputs (forged cursors, cursors of another walk, huge or contradictory filters).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectedLeads, type Harness, startHarness } from './support/harness.js';
import {
  ask,
  type Connection,
  dataOf,
  idsOf,
  indexReady,
  LEADS_PAGE,
  leadFromAccount,
  leadsFromRows,
  matches,
  sortLeads,
  walk,
} from './support/index-expect.js';
import { startTestUpstream, type TestTenant, type TestUpstream } from './support/test-upstream.js';
import { until } from './support/until.js';

const SORTED = '{ leads(first: 3, orderBy: { field: PRICE, direction: DESC }) { dataAsOf edges { node { kommoId } } } }';

describe('before the index is ready', () => {
  for (const api of ['v4', 'kommo'] as const) {
    it(`${api}: pass-through answers what it can; what needs the index waits LEADGRAPH_INDEX_WAIT_MS, then INDEX_NOT_READY with retryAfter`, async () => {
      const upstream = await startTestUpstream({ leads: 150, seed: 3 });
      const endpoint = api === 'v4' ? 'leads' : 'kommo:leads';
      // The index's first read is slow; everything after it is not.
      upstream.setFaults([{ kind: 'slow', endpoints: [endpoint], times: 1, delayMs: 4500 }]);
      const harness = await startHarness({
        upstream,
        api,
        env: {
          LEADGRAPH_INDEX: 'on',
          LEADGRAPH_INDEX_WAIT_MS: '300',
          LEADGRAPH_INDEX_REFRESH_SECONDS: '600',
          LEADGRAPH_UPSTREAM_TIMEOUT_MS: '10000',
        },
      });
      try {
        await ask(harness, '{ __typename }');
        await until(() => upstream.inFlight > 0, 2000, 'the first read is under way');
        expect(harness.gateway.indexes.status().state).toBe('syncing');
        const plain = dataOf<{ leads: Connection }>((await ask(harness, LEADS_PAGE, { first: 5 })).body).leads;
        expect(plain.dataAsOf).toBeNull();
        const listed =
          api === 'v4'
            ? expectedLeads(upstream).map((lead) => lead.kommoId)
            : idsOf(upstream.account.leads.filter((lead) => !lead.isDeleted).map(leadFromAccount));
        expect(plain.edges.map((edge) => edge.node.kommoId)).toEqual(listed.slice(0, 5));

        const needsIndex = [
          SORTED,
          '{ leads(first: 3, filter: { search: "for" }) { edges { node { kommoId } } } }',
          '{ leads(first: 3, filter: { price: { min: 10 } }) { edges { node { kommoId } } } }',
          ...(api === 'kommo'
            ? [
                '{ leads(first: 3, filter: { groupId: "301" }) { edges { node { kommoId } } } }',
                '{ leads(first: 3, filter: { tagName: "hot" }) { edges { node { kommoId } } } }',
              ]
            : []),
        ];
        for (const query of needsIndex) {
          const started = Date.now();
          const { body } = await ask(harness, query);
          expect(body.errors?.[0]?.extensions?.code, query).toBe('INDEX_NOT_READY');
          expect(Date.now() - started, query).toBeGreaterThanOrEqual(290);
          expect(body.data ?? null).toBeNull();
          expect(body.errors?.[0]?.extensions?.retryAfter).toBeGreaterThanOrEqual(1);
          expect(body.errors?.[0]?.message).toMatch(/lead index is still reading its first snapshot; retry in \d+ s/);
        }

        await indexReady(harness);
        const sorted = dataOf<{ leads: Connection }>((await ask(harness, SORTED)).body).leads;
        expect(sorted.dataAsOf).not.toBeNull();
        const source = api === 'v4' ? leadsFromRows(upstream.data.leadRows) : upstream.account.leads.map(leadFromAccount);
        expect(sorted.edges.map((edge) => edge.node.kommoId)).toEqual(
          idsOf(
            sortLeads(
              source.filter((lead) => !lead.isDeleted),
              'PRICE',
              'DESC',
            ).slice(0, 3),
          ),
        );
      } finally {
        await harness.close();
        await upstream.close();
      }
    });
  }

  it('a query that needs the index and arrives during the first read is answered when the read completes', async () => {
    const upstream = await startTestUpstream({ leads: 150, seed: 4 });
    upstream.setFaults([{ kind: 'slow', endpoints: ['leads'], times: 1, delayMs: 800 }]);
    const harness = await startHarness({ upstream, env: { LEADGRAPH_INDEX: 'on', LEADGRAPH_INDEX_WAIT_MS: '5000' } });
    try {
      const { body } = await ask(harness, SORTED);
      expect(dataOf<{ leads: Connection }>(body).leads.edges).toHaveLength(3);
    } finally {
      await harness.close();
      await upstream.close();
    }
  });
  it('a sorted query the plan would have priced at many upstream blocks waits for the index instead of UPSTREAM_CALL_LIMIT', async () => {
    const upstream = await startTestUpstream({ leads: 150, seed: 5 });
    upstream.setFaults([{ kind: 'slow', endpoints: ['leads'], times: 1, delayMs: 800 }]);
    const harness = await startHarness({ upstream, env: { LEADGRAPH_INDEX: 'on', LEADGRAPH_INDEX_WAIT_MS: '5000' } });
    try {
      await ask(harness, '{ __typename }');
      // 36 users: read upstream, each connection would be a block or two; from the index, none is.
      const { body } = await ask(
        harness,
        '{ users { kommoId leads(first: 2, orderBy: { field: PRICE, direction: DESC }) { totalCount } } }',
      );
      const users = dataOf<{ users: { kommoId: string; leads: { totalCount: number } }[] }>(body).users;
      const live = leadsFromRows(upstream.data.leadRows).filter((lead) => !lead.isDeleted);
      expect(users.length).toBeGreaterThan(20);
      for (const user of users) {
        expect(user.leads.totalCount).toBe(live.filter((lead) => lead.responsibleUserId === user.kommoId).length);
      }
    } finally {
      await harness.close();
      await upstream.close();
    }
  });
});

describe('LEADGRAPH_INDEX=off', () => {
  let upstream: TestUpstream;
  let harness: Harness;
  beforeAll(async () => {
    upstream = await startTestUpstream({ leads: 200, seed: 9 });
    harness = await startHarness({ upstream });
  });
  afterAll(async () => {
    await harness.close();
    await upstream.close();
  });

  it('pass-through as before: no index read, no dataAsOf, the upstream answers', async () => {
    upstream.reset();
    const all = await walk(harness, 'forward', { size: 250 });
    expect(all.ids).toEqual(expectedLeads(upstream).map((lead) => lead.kommoId));
    const page = dataOf<{ leads: Connection }>((await ask(harness, LEADS_PAGE, { first: 5, filter: { tagId: '101' } })).body).leads;
    expect(page.dataAsOf).toBeNull();
    expect(page.edges.map((edge) => edge.node.kommoId)).toEqual(
      expectedLeads(upstream)
        .filter((lead) => lead.tagIds.includes('101'))
        .slice(0, 5)
        .map((lead) => lead.kommoId),
    );
    // Only the queries' own reads: no 5000-row page of an index.
    expect(upstream.requests.every((request) => request.query.limit !== '5000')).toBe(true);
    expect(harness.gateway.indexes.status().state).toBe('off');
  });

  it('orderBy, search, price and closedAt are INDEX_UNAVAILABLE, saying the index is off', async () => {
    for (const query of [
      SORTED,
      '{ leads(filter: { search: "for" }) { totalCount } }',
      '{ leads(filter: { price: { max: 10 } }) { totalCount } }',
      '{ leads(filter: { closedAt: { from: "2025-01-01T00:00:00Z" } }) { totalCount } }',
      '{ pipelines { leads(orderBy: { field: NAME }) { totalCount } } }',
    ]) {
      const { status, body } = await ask(harness, query);
      expect(status, query).toBeLessThan(500);
      expect(body.errors?.[0]?.extensions?.code, query).toBe('INDEX_UNAVAILABLE');
      expect(body.errors?.[0]?.message, query).toMatch(/lead index is off here \(LEADGRAPH_INDEX=off\)/);
    }
  });
});

const headersOf = (tenant: TestTenant, secret = tenant.clientSecret): Record<string, string> => ({
  'x-client-id': tenant.clientId,
  'x-client-secret': secret,
  'x-workspace-id': tenant.workspaceId,
});

describe('several tenants (credentials from the request)', () => {
  let upstream: TestUpstream;
  let other: TestTenant;
  let harness: Harness;
  beforeAll(async () => {
    upstream = await startTestUpstream({ leads: 300, seed: 12 });
    other = upstream.addTenant({ leads: 250, seed: 13 });
    other.insertLead({ name: 'Only in the other tenant', price: 777 });
    harness = await startHarness({
      upstream,
      credentials: { V4_CLIENT_ID: '', V4_CLIENT_SECRET: '', V4_WORKSPACE_ID: '' },
      env: { LEADGRAPH_CREDENTIALS_FROM_REQUEST: 'true', LEADGRAPH_INDEX: 'on', LEADGRAPH_INDEX_REFRESH_SECONDS: '600' },
    });
  });
  afterAll(async () => {
    await harness.close();
    await upstream.close();
  });

  it('a request the plan refused before the index (UPSTREAM_CALL_LIMIT) runs once the index is ready, with no upstream call', async () => {
    const query = '{ users { kommoId leads(first: 2) { totalCount edges { node { kommoId } } } } }';
    const before = await ask(harness, query, undefined, headersOf(upstream));
    expect(before.body.errors?.[0]?.extensions?.code).toBe('UPSTREAM_CALL_LIMIT');
    expect(before.body.data ?? null).toBeNull();
    // The plan's read of the users table proved the credentials: the tenant's index has started.
    await until(() => harness.gateway.indexes.status().tenants.ready === 1, 10_000, 'the first tenant index is ready');
    upstream.reset();
    const after = dataOf<{ users: { kommoId: string; leads: Connection }[] }>(
      (await ask(harness, query, undefined, headersOf(upstream))).body,
    );
    expect(upstream.count()).toBe(0);
    const live = leadsFromRows(upstream.data.leadRows).filter((lead) => !lead.isDeleted);
    expect(after.users.length).toBeGreaterThan(20);
    for (const user of after.users) {
      const mine = live.filter((lead) => matches(lead, { responsibleUserId: user.kommoId }));
      expect(user.leads.totalCount).toBe(mine.length);
      expect(user.leads.edges.map((edge) => edge.node.kommoId)).toEqual(idsOf(mine.slice(0, 2)));
    }
  });

  it('each tenant sees only its own leads, each from its own index', async () => {
    await ask(harness, '{ pipelines { kommoId } }', undefined, headersOf(other));
    await until(() => harness.gateway.indexes.status().tenants.ready === 2, 10_000, 'both tenant indexes are ready');
    upstream.reset();
    for (const tenant of [upstream, other]) {
      const expected = sortLeads(
        leadsFromRows(tenant.data.leadRows).filter((lead) => !lead.isDeleted),
        'NAME',
        'DESC',
      );
      const names = await walk(harness, 'forward', {
        orderBy: { field: 'NAME', direction: 'DESC' },
        size: 250,
        headers: headersOf(tenant),
      });
      expect(names.ids).toEqual(idsOf(expected));
      const found = dataOf<{ leads: Connection }>(
        (
          await ask(
            harness,
            '{ leads(filter: { search: "only in the OTHER" }) { totalCount edges { node { kommoId } } } }',
            undefined,
            headersOf(tenant),
          )
        ).body,
      ).leads;
      expect(found.totalCount).toBe(tenant === other ? 1 : 0);
    }
    // The same ids exist in both accounts with different leads: each lookup answers from its own tenant.
    const id = '20000010';
    const names = [];
    for (const tenant of [upstream, other]) {
      names.push(
        dataOf<{ lead: { name: string } }>((await ask(harness, `{ lead(kommoId: "${id}") { name } }`, undefined, headersOf(tenant))).body)
          .lead.name,
      );
    }
    expect(names).toEqual([upstream, other].map((tenant) => leadsFromRows(tenant.data.leadRows).find((lead) => lead.kommoId === id)?.name));
    expect(names[0]).not.toBe(names[1]);
    expect(upstream.count()).toBe(0);
  });

  it('a wrong secret against a warm index gets 401 and no data', async () => {
    await until(() => harness.gateway.indexes.status().tenants.ready >= 1, 10_000, 'a warm index');
    const held = () => Object.values(harness.gateway.indexes.status().tenants).reduce((sum, count) => sum + count, 0);
    const indexesBefore = held();
    for (const query of [
      SORTED,
      '{ leads(first: 5) { totalCount edges { node { kommoId name } } } }',
      '{ lead(kommoId: "20000010") { name } }',
    ]) {
      const { status, body } = await ask(harness, query, undefined, headersOf(upstream, 'f'.repeat(32)));
      expect(status, query).toBe(401);
      // No data: none at all, or the field nulled beside the error.
      expect(
        Object.values(body.data ?? {}).every((value) => value === null),
        query,
      ).toBe(true);
      expect(['UNAUTHENTICATED', 'UPSTREAM_UNAUTHORIZED']).toContain(body.errors?.[0]?.extensions?.code);
    }
    // No index for the wrong secret either.
    expect(held()).toBe(indexesBefore);
  });
});

describe('hostile inputs against a ready index', () => {
  let upstream: TestUpstream;
  let harness: Harness;
  let sortedCursor: string;
  let plainCursor: string;
  let passThroughCursor: string;
  beforeAll(async () => {
    upstream = await startTestUpstream({ leads: 200, seed: 14 });
    harness = await startHarness({ upstream, env: { LEADGRAPH_INDEX: 'on', LEADGRAPH_INDEX_REFRESH_SECONDS: '600' } });
    const passThrough = await startHarness({ upstream });
    try {
      passThroughCursor = dataOf<{ leads: Connection }>((await ask(passThrough, LEADS_PAGE, { first: 5 })).body).leads.pageInfo
        .endCursor as string;
    } finally {
      await passThrough.close();
    }
    await indexReady(harness);
    sortedCursor = (await first({ first: 5, orderBy: { field: 'NAME', direction: 'ASC' } })).pageInfo.endCursor as string;
    plainCursor = (await first({ first: 5 })).pageInfo.endCursor as string;
  });
  afterAll(async () => {
    await harness.close();
    await upstream.close();
  });
  const first = async (variables: Record<string, unknown>): Promise<Connection> =>
    dataOf<{ leads: Connection }>((await ask(harness, LEADS_PAGE, variables)).body).leads;

  const forged = (parts: unknown[]): string => Buffer.from(JSON.stringify(parts)).toString('base64url');

  it('forged, garbage and foreign cursors, huge or contradictory filters: BAD_USER_INPUT with a clear message, never a 500', async () => {
    const cases: [string, Record<string, unknown>, RegExp][] = [
      ['garbage', { first: 5, after: 'garbage!!' }, /cursor/],
      ['base64 of nothing useful', { first: 5, orderBy: { field: 'ID' }, after: Buffer.from('hello').toString('base64url') }, /cursor/],
      ['an index cursor with a wrong shape', { first: 5, after: forged(['li1', 'x', 'SYNC']) }, /not a cursor of this API/],
      [
        'a NAME cursor with a number key',
        { first: 5, orderBy: { field: 'NAME' }, after: forged(['li1', 'abc', 'NAME', 1, 5, '1']) },
        /cursor/,
      ],
      ['a cursor from the future', { first: 5, after: forged(['li1', 'abc', 'SYNC', 1e12, 1, '20000001']) }, /cursor/],
      ['a negative walk', { last: 5, before: forged(['li1', 'abc', 'SYNC', -1, 1, '20000001']) }, /cursor/],
      ['a cursor too long', { first: 5, after: 'a'.repeat(5000) }, /cursor/],
      ['a cursor of another order', { first: 5, orderBy: { field: 'PRICE' }, after: sortedCursor }, /different filter or order/],
      [
        'a cursor of another direction',
        { first: 5, orderBy: { field: 'NAME', direction: 'DESC' }, after: sortedCursor },
        /different filter or order/,
      ],
      ['a cursor of another filter', { first: 5, filter: { tagId: '101' }, after: plainCursor }, /different filter or order/],
      ['a sorted cursor without the order', { first: 5, after: sortedCursor }, /different filter or order/],
      ['a pass-through cursor with orderBy', { first: 5, orderBy: { field: 'NAME' }, after: passThroughCursor }, /cursor/],
      ['a pass-through cursor with search', { first: 5, filter: { search: 'for' }, after: passThroughCursor }, /cursor/],
      ['after and before of different walks', { first: 5, after: plainCursor, before: sortedCursor }, /cursor/],
      ['a huge search', { first: 5, filter: { search: 'x'.repeat(5000) } }, /search/],
      ['an empty search', { first: 5, filter: { search: '   ' } }, /search/],
      ['price min above max', { first: 5, filter: { price: { min: 10, max: 1 } } }, /min/],
      [
        'closedAt from after to',
        { first: 5, filter: { closedAt: { from: '2026-01-02T00:00:00Z', to: '2026-01-01T00:00:00Z' } } },
        /closedAt/,
      ],
      ['price NaN as text', { first: 5, filter: { price: { min: 'NaN' } } }, /Float|price|min/],
      ['first negative', { first: -1, orderBy: { field: 'ID' } }, /first/],
      ['first over the maximum', { first: 100_000, orderBy: { field: 'ID' } }, /first/],
      ['an order field that does not exist', { first: 5, orderBy: { field: 'SCORE' } }, /SCORE|LeadOrderField/],
    ];
    for (const [what, variables, message] of cases) {
      const { status, body } = await ask(harness, LEADS_PAGE, variables);
      expect(status, what).toBeLessThan(500);
      expect(body.data?.leads ?? null, what).toBeNull();
      const error = body.errors?.[0];
      expect(error?.extensions?.code, `${what}: ${error?.message}`).toBe('BAD_USER_INPUT');
      expect(error?.message, what).toMatch(message);
    }
  });

  it('numbers JSON can carry but a Float cannot (1e309) are refused, not read as Infinity', async () => {
    const response = await harness.post(`{"query":${JSON.stringify(LEADS_PAGE)},"variables":{"first":5,"filter":{"price":{"min":1e309}}}}`);
    expect(response.status).toBeLessThan(500);
    const body = (await response.json()) as { data?: unknown; errors?: { extensions?: { code?: string } }[] };
    expect(body.data ?? null).toBeNull();
    expect(body.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
  });

  it('the cursors of a walk work after the refusals (nothing was poisoned)', async () => {
    const next = await first({ first: 5, orderBy: { field: 'NAME', direction: 'ASC' }, after: sortedCursor });
    const expected = sortLeads(
      leadsFromRows(upstream.data.leadRows).filter((lead) => !lead.isDeleted),
      'NAME',
      'ASC',
    );
    expect(next.edges.map((edge) => edge.node.kommoId)).toEqual(idsOf(expected.slice(5, 10)));
  });
});
