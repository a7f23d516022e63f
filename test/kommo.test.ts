import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseLead, parseList, parsePipelines, parseUser } from '../src/sources/kommo/records.js';
import { expectedLeads, type Harness, startHarness } from './support/harness.js';
import { startTestUpstream, type TestUpstream } from './support/test-upstream.js';

interface Body {
  data?: Record<string, unknown> | null;
  errors?: { message: string; path?: string[]; extensions?: { code?: string; retryAfter?: number } }[];
}
const ask = async (harness: Harness, query: string, variables?: Record<string, unknown>): Promise<Body> =>
  (await (await harness.post({ query, variables })).json()) as Body;

describe('Kommo API v4 payloads (shapes from the upstream contract)', () => {
  const lead = {
    id: 19619,
    name: 'Deal #19619',
    price: 46333,
    responsible_user_id: 8238874,
    group_id: 0,
    status_id: 143,
    pipeline_id: 3177727,
    loss_reason_id: 4203748,
    source_id: null,
    created_by: 0,
    updated_by: 8238874,
    created_at: 1586953900,
    updated_at: 1586954217,
    closed_at: 1586954217,
    closest_task_at: null,
    is_deleted: false,
    custom_fields_values: [{ field_id: 3, field_name: 'Budget', field_code: null, field_type: 'numeric', values: [{ value: '100' }] }],
    score: null,
    account_id: 28805383,
    labor_cost: 1200,
    _embedded: {
      tags: [{ id: 100667, name: 'vip', color: null }],
      contacts: [{ id: 101, is_main: true }],
      loss_reason: [{ id: 4203748, name: 'Too expensive' }],
      companies: [{ id: 77 }],
    },
  };

  it('maps a lead: Unix seconds, system user 0, loss reason from its array, tags and contacts from _embedded', () => {
    expect(parseLead(lead)).toMatchObject({
      kommoId: '19619',
      createdById: null,
      updatedById: '8238874',
      groupId: '0',
      createdAt: new Date(1586953900 * 1000),
      closedAt: new Date(1586954217 * 1000),
      closestTaskAt: null,
      lossReason: { kommoId: '4203748', name: 'Too expensive' },
      tags: [{ kommoId: '100667', name: 'vip', color: null }],
      contactIds: ['101'],
      source: null,
      laborCostSeconds: 1200,
      customFields: [{ fieldId: '3', name: 'Budget', values: [{ value: '100', enumId: null, enumCode: null }] }],
    });
  });

  it('reads the HAL list envelope, _links.next for more, and a 204 (no body) as an empty list', () => {
    const page = parseList(
      { _page: 1, _links: { self: { href: 'x' }, next: { href: 'y' } }, _embedded: { leads: [lead] } },
      'leads',
      '/api/v4/leads',
    );
    expect(page).toEqual({ items: [lead], hasNext: true });
    expect(parseList({ _page: 2, _links: { self: { href: 'x' } }, _embedded: { leads: [] } }, 'leads', '/x').hasNext).toBe(false);
    expect(parseList(null, 'leads', '/api/v4/leads')).toEqual({ items: [], hasNext: false });
    expect(() => parseList({ title: 'oops' }, 'leads', '/api/v4/leads')).toThrow(/without "_embedded.leads"/);
  });

  it('maps pipelines with their statuses (142 and 143 in each) and users with role and group', () => {
    const pipelines = parsePipelines(
      {
        _total_items: 1,
        _embedded: {
          pipelines: [
            {
              id: 3177727,
              name: 'Sales',
              sort: 1,
              is_main: true,
              is_unsorted_on: true,
              is_archive: false,
              account_id: 28805383,
              _embedded: {
                statuses: [
                  { id: 143, name: 'Closed - lost', sort: 10000, is_editable: false, pipeline_id: 3177727, color: '#D5D8DB', type: 0 },
                  { id: 32392156, name: 'Incoming leads', sort: 10, is_editable: false, pipeline_id: 3177727, color: '#c1c1c1', type: 1 },
                  { id: 142, name: 'Closed - won', sort: 10000, is_editable: false, pipeline_id: 3177727, color: '#CCFF66', type: 0 },
                ],
              },
            },
          ],
        },
      },
      '/api/v4/leads/pipelines',
    );
    expect(pipelines[0]?.statuses.map((status) => [status.kommoId, status.type])).toEqual([
      ['32392156', 1],
      ['143', 0],
      ['142', 0],
    ]);
    expect(
      parseUser({
        id: 504141,
        name: 'Ana',
        email: 'ana@x',
        rights: { is_admin: true, is_active: true },
        _embedded: { roles: [{ id: 2, name: 'SDR' }], groups: [{ id: 0, name: 'Main' }] },
      }),
    ).toEqual({
      kommoId: '504141',
      name: 'Ana',
      email: 'ana@x',
      isAdmin: true,
      isActive: true,
      role: { kommoId: '2', name: 'SDR' },
      group: { kommoId: '0', name: 'Main' },
    });
  });
});

describe('the same queries from both sources give the same answers', () => {
  let demo: TestUpstream;
  let v4: Harness;
  let kommo: Harness;
  beforeAll(async () => {
    demo = await startTestUpstream({ leads: 140, seed: 21 });
    // Small blocks, so paging crosses many upstream pages on both sides.
    v4 = await startHarness({ upstream: demo, env: { LEADGRAPH_UPSTREAM_PAGE_SIZE: '40' } });
    kommo = await startHarness({ upstream: demo, api: 'kommo', env: { LEADGRAPH_UPSTREAM_PAGE_SIZE: '30' } });
  });
  afterAll(async () => {
    await v4.close();
    await kommo.close();
    await demo.close();
  });

  const FIELDS = `id kommoId name price groupId score laborCostSeconds createdAt updatedAt closedAt closestTaskAt isDeleted
    pipeline { id kommoId name isMain } status { id kommoId name kind } responsibleUser { id name email role { name } group { name } }
    createdBy { kommoId } updatedBy { kommoId } lossReason { kommoId name } source { kommoId } tags { kommoId name color }
    contacts { kommoId } customFields { fieldId name values { value enumId } }`;

  async function pageAll(harness: Harness, filter: Record<string, unknown> | null, size: number) {
    const leads: unknown[] = [];
    let after: string | null = null;
    for (let i = 0; i < 200; i += 1) {
      const body = await ask(
        harness,
        `query($after: String, $filter: LeadFilter) { leads(first: ${size}, after: $after, filter: $filter) { pageInfo { hasNextPage endCursor } edges { node { ${FIELDS} } } } }`,
        { after, filter },
      );
      expect(body.errors).toBeUndefined();
      const connection = body.data?.leads as { pageInfo: { hasNextPage: boolean; endCursor: string | null }; edges: { node: unknown }[] };
      leads.push(...connection.edges.map((edge) => edge.node));
      if (!connection.pageInfo.hasNextPage) return leads;
      after = connection.pageInfo.endCursor;
    }
    throw new Error('did not end');
  }

  const filters: [string, Record<string, unknown> | null][] = [
    ['no filter', null],
    ['pipelineId', { pipelineId: '7000002' }],
    ['pipelineId and statusId', { pipelineId: '7000001', statusId: '142' }],
    ['responsibleUserId', { responsibleUserId: '9000007' }],
    // A range clear of the two demo leads whose created_at is lost (V4 "not a date", Kommo null):
    // neither API can filter them by it, while the gateway falls back to updated_at.
    ['createdAt range', { createdAt: { from: '2025-05-01T00:00:00Z', to: '2026-03-31T12:00:00.500Z' } }],
    ['updatedAt from', { updatedAt: { from: '2026-01-15' } }],
  ];
  for (const [name, filter] of filters) {
    it(`pages forward identically (${name})`, async () => {
      const fromV4 = await pageAll(v4, filter, 7);
      expect(fromV4.length).toBeGreaterThan(0);
      expect(await pageAll(kommo, filter, 7)).toEqual(fromV4);
    });
  }

  it('pages backward from a cursor identically, and node ids resolve the same', async () => {
    const query =
      'query($after: String, $before: String, $first: Int, $last: Int) { leads(first: $first, after: $after, last: $last, before: $before) { pageInfo { endCursor hasPreviousPage } edges { node { id kommoId name } } } }';
    const answers: unknown[] = [];
    for (const harness of [v4, kommo]) {
      const first = await ask(harness, query, { first: 60 });
      const cursor = (first.data?.leads as { pageInfo: { endCursor: string } } | undefined)?.pageInfo.endCursor;
      const back = await ask(harness, query, { last: 9, before: cursor });
      expect(back.errors).toBeUndefined();
      const ids = ((back.data?.leads as { edges: { node: { id: string } }[] } | undefined)?.edges ?? []).map((edge) => edge.node.id);
      const nodes = await ask(harness, 'query($ids: [ID!]!) { nodes(ids: $ids) { id ... on Lead { kommoId name tags { name } } } }', {
        ids,
      });
      answers.push([back.data?.leads && (back.data.leads as { edges: unknown }).edges, nodes.data]);
    }
    expect(answers[1]).toEqual(answers[0]);
  });

  it('agree on a lead whose creation time the upstream lost: createdAt shows updatedAt, and no createdAt range matches it', async () => {
    const corrupt = demo.data.leadRows.find((row) => row.created_at === 'not a date' && row.is_deleted !== true);
    const id = String(corrupt?.lead_id);
    const query = `{ lead(kommoId: "${id}") { createdAt updatedAt } }`;
    const [a, b] = await Promise.all([ask(v4, query), ask(kommo, query)]);
    expect(a.errors).toBeUndefined();
    expect(b).toEqual(a);
    const lead = a.data?.lead as { createdAt: string; updatedAt: string };
    expect(lead.createdAt).toBe(lead.updatedAt);
    const around = (offset: number) => new Date(Date.parse(lead.createdAt) + offset).toISOString();
    const ranged = `{ leads(first: 250, filter: { createdAt: { from: "${around(-20 * 86_400_000)}", to: "${around(20 * 86_400_000)}" } }) { edges { node { kommoId } } } }`;
    const [fromV4, fromKommo] = await Promise.all([ask(v4, ranged), ask(kommo, ranged)]);
    const ids = (body: typeof fromV4) =>
      ((body.data?.leads as { edges: { node: { kommoId: string } }[] } | undefined)?.edges ?? []).map((edge) => edge.node.kommoId);
    expect(ids(fromV4)).not.toContain(id);
    expect(ids(fromV4).length).toBeGreaterThan(0);
    expect(ids(fromKommo)).toEqual(ids(fromV4));
  });

  it('looks up a deleted lead through with=only_deleted: isDeleted true, as on V4', async () => {
    const deleted = expectedLeads(demo, (row) => row.is_deleted === true)[0]?.kommoId as string;
    const query = `{ lead(kommoId: "${deleted}") { kommoId isDeleted } missing: lead(kommoId: "1") { kommoId } }`;
    demo.reset();
    const fromKommo = await ask(kommo, query);
    expect(fromKommo.errors).toBeUndefined();
    expect(fromKommo.data).toEqual({ lead: { kommoId: deleted, isDeleted: true }, missing: null });
    expect(demo.requests.filter((request) => request.endpoint === 'kommo:leads').map((request) => request.query.with)).toEqual([
      'contacts,loss_reason,source_id',
      'only_deleted',
    ]);
    expect(await ask(v4, query)).toEqual(fromKommo);
  });

  it('answers nested lookups identically', async () => {
    const query = `{ pipelines { id name statuses { id kommoId kind } } users { id name isAdmin isActive role { kommoId name } group { kommoId name } }
      pipeline(kommoId: "7000003") { leads(first: 5) { edges { node { kommoId status { name } } } } }
      user(kommoId: "9000004") { leads(first: 5) { edges { node { kommoId } } } } }`;
    const [a, b] = await Promise.all([ask(v4, query), ask(kommo, query)]);
    expect(a.errors).toBeUndefined();
    expect(b).toEqual(a);
  });

  it('looks up 300 lead references in two Kommo calls (filter[id][] lists of 250), with the same answers as V4', async () => {
    const ids = Array.from({ length: 300 }, (_, i) => String(20000001 + i)); // 140 exist, 160 do not
    const query = `query($representations: [_Any!]!) { _entities(representations: $representations) {
      ... on Lead { kommoId name price pipeline { name } status { name } tags { name } } } }`;
    const variables = { representations: ids.map((kommoId) => ({ __typename: 'Lead', kommoId })) };
    demo.reset();
    const fromKommo = await ask(kommo, query, variables);
    expect(fromKommo.errors).toBeUndefined();
    // Two lists of at most 250 ids, then one more for the ids not found (deleted leads are listed apart).
    expect(demo.count('kommo:leads')).toBe(3);
    expect(demo.count('kommo:pipelines')).toBe(1);
    const entities = fromKommo.data?._entities as ({ kommoId: string; pipeline: { name: string } | null } | null)[];
    expect(entities).toHaveLength(300);
    const known = new Set(expectedLeads(demo, () => true).map((lead) => lead.kommoId));
    const live = new Set(expectedLeads(demo, (row) => row.is_deleted !== true).map((lead) => lead.kommoId));
    expect(entities.map((entity) => entity?.kommoId ?? null)).toEqual(ids.map((id) => (known.has(id) ? id : null)));
    expect(entities.filter((entity) => entity !== null && live.has(entity.kommoId)).every((entity) => entity?.pipeline !== null)).toBe(
      true,
    );
    // Kommo tells little more than the id of a deleted lead: compare the live leads both sources know.
    const fromV4 = await ask(v4, query, variables);
    const v4Entities = fromV4.data?._entities as ({ kommoId: string } | null)[];
    const liveOnly = (list: ({ kommoId: string } | null)[]) => list.map((entity) => (entity && live.has(entity.kommoId) ? entity : null));
    expect(liveOnly(entities)).toEqual(liveOnly(v4Entities));
  });
});

describe('Kommo-specific behaviour', () => {
  let demo: TestUpstream;
  beforeAll(async () => {
    demo = await startTestUpstream({ leads: 60, seed: 4 });
  });
  afterAll(() => demo.close());

  it('a filter that matches nothing is a 204 upstream and an empty page here', async () => {
    const harness = await startHarness({ upstream: demo, api: 'kommo' });
    try {
      demo.reset();
      const body = await ask(
        harness,
        '{ leads(first: 5, filter: { responsibleUserId: "1" }) { pageInfo { hasNextPage } edges { cursor } } }',
      );
      expect(body).toEqual({ data: { leads: { pageInfo: { hasNextPage: false }, edges: [] } } });
      expect(demo.requests.map((request) => [request.endpoint, request.status])).toEqual([['kommo:leads', 204]]);
      const one = await ask(harness, '{ lead(kommoId: "1") { name } }');
      expect(one).toEqual({ data: { lead: null } });
    } finally {
      await harness.close();
    }
  });

  it('refuses filters the Kommo API cannot apply, naming the filter and the source', async () => {
    const harness = await startHarness({ upstream: demo, api: 'kommo' });
    try {
      for (const [filter, name] of [
        ['{ groupId: "0" }', 'groupId'], // the main group: a valid id, still not a Kommo filter
        ['{ tagId: "101" }', 'tagId'],
        ['{ tagName: "vip" }', 'tagName'],
        ['{ lossReasonId: "501" }', 'lossReasonId'],
        ['{ statusId: "142" }', 'statusId'],
        ['{ includeDeleted: true }', 'includeDeleted'],
      ]) {
        const body = await ask(harness, `{ leads(first: 1, filter: ${filter}) { edges { cursor } } }`);
        expect(body.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
        expect(body.errors?.[0]?.message).toMatch(new RegExp(`"filter.${name}" is not supported by the kommo source`));
      }
    } finally {
      await harness.close();
    }
  });

  it('keeps to 7 requests a second by default, queueing the rest, never tripping the upstream limit', async () => {
    demo.reset();
    demo.enforceRateLimit(7, 1_000);
    const harness = await startHarness({
      upstream: demo,
      api: 'kommo',
      // One client: the whole budget is its share.
      env: { LEADGRAPH_KOMMO_RATE_PER_SEC: '7', LEADGRAPH_RATE_MAX_WAIT_MS: '10000', LEADGRAPH_CLIENT_BUDGET_SHARE: '1' },
    });
    try {
      const results = await Promise.all(
        Array.from({ length: 20 }, (_, i) => ask(harness, `{ lead(kommoId: "${20000001 + i}") { kommoId } }`)),
      );
      expect(results.every((body) => !body.errors)).toBe(true);
      expect(demo.count('kommo:leads')).toBe(20);
      expect(demo.rateLimitViolations).toBe(0);
    } finally {
      demo.enforceRateLimit(null);
      await harness.close();
    }
  });

  it("maps Kommo's 429 body (retry_after, no header) onto UPSTREAM_RATE_LIMITED with retryAfter", async () => {
    demo.reset();
    demo.enforceRateLimit(2, 60_000);
    const harness = await startHarness({ upstream: demo, api: 'kommo', env: { LEADGRAPH_RATE_MAX_WAIT_MS: '500' } });
    try {
      const results = await Promise.all(
        Array.from({ length: 3 }, (_, i) => ask(harness, `{ lead(kommoId: "${20000001 + i}") { kommoId } }`)),
      );
      const limited = results.find((body) => body.errors);
      expect(limited?.errors?.[0]?.extensions).toMatchObject({ code: 'UPSTREAM_RATE_LIMITED' });
      expect(limited?.errors?.[0]?.extensions?.retryAfter).toBeGreaterThan(1);
    } finally {
      demo.enforceRateLimit(null);
      await harness.close();
    }
  });

  it('falls back to one call per user when the token may not list users (403)', async () => {
    demo.setKommoUsersForbidden(true);
    const harness = await startHarness({ upstream: demo, api: 'kommo' });
    try {
      demo.reset();
      const body = await ask(
        harness,
        '{ leads(first: 10) { edges { node { kommoId responsibleUser { kommoId name } createdBy { kommoId } } } } }',
      );
      expect(body.errors).toBeUndefined();
      type Edges = { edges: { node: { responsibleUser: { kommoId: string } | null; createdBy: { kommoId: string } | null } }[] };
      const edges = (body.data?.leads as Edges | undefined)?.edges ?? [];
      const wanted = new Set(
        edges
          .flatMap((edge) => [edge.node.responsibleUser?.kommoId, edge.node.createdBy?.kommoId])
          .filter((id): id is string => Boolean(id)),
      );
      expect(wanted.size).toBeGreaterThan(3);
      expect(demo.requests.filter((request) => request.endpoint === 'kommo:users').map((request) => request.status)).toEqual([403]);
      // One call per distinct user the page names (a dangling one answers 404 and resolves to null).
      expect(demo.count('kommo:user')).toBeGreaterThanOrEqual(wanted.size);
      const list = await ask(harness, '{ users { name } }');
      expect(list.errors?.[0]?.extensions?.code).toBe('UPSTREAM_FORBIDDEN');
    } finally {
      demo.setKommoUsersForbidden(false);
      await harness.close();
    }
  });

  it('stops calling a blocked account (an HTML 403) for the cool-down, says so in /ready and /metrics, then recovers', async () => {
    const harness = await startHarness({ upstream: demo, api: 'kommo', env: { LEADGRAPH_UPSTREAM_COOLDOWN_SECONDS: '1' } });
    const ready = async () => (await (await fetch(harness.url.replace('/graphql', '/ready'))).json()) as Record<string, unknown>;
    try {
      expect(await ready()).toMatchObject({ status: 'ready', breaker: 'closed' });
      demo.setFaults([{ kind: 'html-403', endpoints: ['kommo:leads'], times: 1 }]);
      const blocked = await ask(harness, '{ leads(first: 1) { edges { cursor } } }');
      expect(blocked.errors?.[0]?.extensions?.code).toBe('UPSTREAM_FORBIDDEN');
      demo.reset();
      const cooling = await ask(harness, '{ pipelines { name } }');
      expect(cooling.errors?.map((error) => error.extensions?.code)).toEqual(['UPSTREAM_FORBIDDEN']);
      expect(cooling.errors?.[0]?.extensions?.retryAfter).toBe(1);
      expect(cooling.errors?.[0]?.message).toMatch(/no Kommo API call for this account for 1 s after it answered 403 with an HTML page/);
      expect(demo.count()).toBe(0);
      expect(await ready()).toMatchObject({ status: 'ready', breaker: 'open' });
      expect(await (await fetch(harness.url.replace('/graphql', '/metrics'))).text()).toMatch(/^leadgraph_upstream_breaker_open 1$/m);
      expect(harness.logs.filter((line) => line.includes('no calls for this account during the cool-down'))).toHaveLength(1);
      await new Promise((resolve) => setTimeout(resolve, 1_100));
      const recovered = await ask(harness, '{ leads(first: 1) { edges { cursor } } }');
      expect(recovered.errors).toBeUndefined();
      expect(await ready()).toMatchObject({ breaker: 'closed' });
    } finally {
      demo.setFaults([]);
      await harness.close();
    }
  });

  it('stops calling after three 429s in a row, answering UPSTREAM_RATE_LIMITED with retryAfter meanwhile', async () => {
    const harness = await startHarness({ upstream: demo, api: 'kommo', env: { LEADGRAPH_UPSTREAM_COOLDOWN_SECONDS: '120' } });
    try {
      demo.setFaults([{ kind: 'rate-limit', endpoints: ['kommo:leads'], retryAfterSeconds: 600 }]);
      demo.reset();
      for (let i = 0; i < 3; i += 1) {
        const body = await ask(harness, `{ leads(first: 1, filter: { responsibleUserId: "${9000001 + i}" }) { edges { cursor } } }`);
        expect(body.errors?.[0]?.extensions?.code).toBe('UPSTREAM_RATE_LIMITED');
      }
      expect(demo.count('kommo:leads')).toBe(3);
      const cooling = await ask(harness, '{ leads(first: 1, filter: { responsibleUserId: "9000009" }) { edges { cursor } } }');
      expect(cooling.errors?.[0]?.extensions).toMatchObject({ code: 'UPSTREAM_RATE_LIMITED', retryAfter: 120 });
      expect(demo.count('kommo:leads')).toBe(3);
    } finally {
      demo.setFaults([]);
      await harness.close();
    }
  });

  it('maps a wrong token and an nginx HTML 403 onto the same codes as V4', async () => {
    const wrong = await startHarness({ upstream: demo, api: 'kommo', env: { KOMMO_TOKEN: 'not-the-token' } });
    try {
      const body = await ask(wrong, '{ pipelines { name } }');
      expect(body.errors?.[0]?.extensions?.code).toBe('UPSTREAM_UNAUTHORIZED');
      expect(body.errors?.[0]?.message).toMatch(/Kommo API rejected the credentials \(401\): Invalid or missing access token/);
      expect(JSON.stringify(body)).not.toContain(demo.kommoToken);
    } finally {
      await wrong.close();
    }
    const harness = await startHarness({ upstream: demo, api: 'kommo' });
    try {
      demo.setFaults([{ kind: 'html-403', endpoints: ['kommo:leads'] }]);
      const body = await ask(harness, '{ leads(first: 1) { edges { cursor } } }');
      expect(body.errors?.[0]?.extensions?.code).toBe('UPSTREAM_FORBIDDEN');
    } finally {
      demo.setFaults([]);
      await harness.close();
    }
  });
});
