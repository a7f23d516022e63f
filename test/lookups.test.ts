import type { ExecutionResult } from 'graphql';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  LeadsPageDocument,
  type LeadsPageQuery,
  LeadsWithPeopleDocument,
  NodeDocument,
  NodesDocument,
  OneLeadDocument,
  PipelineLeadsDocument,
  PipelinesDocument,
  UserLeadsDocument,
  UsersDocument,
} from './generated/graphql.js';
import { expectedLeads, type Harness, startHarness } from './support/harness.js';

type Row = Record<string, unknown>;

describe('lookups behind leads, filters and node ids (default demo data)', () => {
  let harness: Harness;
  const rowsOf = (keep: (row: Row) => boolean) => expectedLeads(harness.demo, (row) => row.is_deleted !== true && keep(row));

  beforeAll(async () => {
    harness = await startHarness();
  });
  afterAll(() => harness.close());
  beforeEach(() => harness.demo.reset());

  it('250 leads with pipeline, status, responsible user, creator and updater cost one pipelines call and one users call', async () => {
    const result = await harness.execute(LeadsWithPeopleDocument, { first: 250 });
    expect(result.errors).toBeUndefined();
    const edges = result.data?.leads.edges ?? [];
    expect(edges).toHaveLength(250);
    expect(harness.demo.count('pipelines')).toBe(1);
    expect(harness.demo.count('users')).toBe(1);
    expect(harness.demo.count('leads')).toBe(1);
    expect(edges.every((edge) => edge.node.pipeline !== null && edge.node.status !== null)).toBe(true);
  });

  it('resolves people the way Kommo means them: "0" is nobody, a vanished responsible user is null', async () => {
    const result = await harness.execute(LeadsWithPeopleDocument, { first: 250 });
    const rows = new Map(harness.demo.data.leadRows.map((row) => [String(row.lead_id), row]));
    const users = new Map(harness.demo.data.userRows.map((row) => [String(row.user_id), row]));
    let dangling = 0;
    let system = 0;
    for (const { node } of result.data?.leads.edges ?? []) {
      const row = rows.get(node.kommoId) as Row;
      const responsible = String(row.responsible_user_id);
      if (responsible === harness.demo.data.danglingUserId) {
        dangling += 1;
        expect(node.responsibleUser).toBeNull();
      } else {
        expect(node.responsibleUser).toEqual({ kommoId: responsible, name: users.get(responsible)?.user_name });
      }
      if (row.created_by === '0') {
        system += 1;
        expect(node.createdBy).toBeNull();
      } else {
        expect(node.createdBy?.kommoId).toBe(row.created_by);
      }
      expect(node.pipeline?.kommoId).toBe(row.pipeline_id);
      expect(node.status?.kommoId).toBe(row.status_id);
      expect(node.status?.pipeline.kommoId).toBe(row.pipeline_id);
    }
    expect(dangling).toBeGreaterThan(0);
    expect(system).toBeGreaterThan(0);
  });

  it('maps status kinds from 142/143 and the incoming type, per pipeline', async () => {
    const result = await harness.execute(PipelinesDocument, {});
    const pipelines = result.data?.pipelines ?? [];
    expect(pipelines).toHaveLength(4);
    for (const pipeline of pipelines) {
      const kinds = Object.fromEntries(pipeline.statuses.map((status) => [status.kommoId, status.kind]));
      expect(kinds['142']).toBe('WON');
      expect(kinds['143']).toBe('LOST');
      expect(pipeline.statuses[0]?.kind).toBe('INCOMING');
    }
    const wonIds = pipelines.map((pipeline) => pipeline.statuses.find((status) => status.kommoId === '142')?.id);
    expect(new Set(wonIds).size).toBe(4);
    expect(pipelines.filter((pipeline) => pipeline.isMain)).toHaveLength(1);
    expect(pipelines.filter((pipeline) => pipeline.isArchived)).toHaveLength(1);
    expect(harness.demo.count('pipelines')).toBe(1);
  });

  it('users carry role and group; one upstream call', async () => {
    const result = await harness.execute(UsersDocument, {});
    expect(result.data?.users).toHaveLength(harness.demo.data.userRows.length);
    expect(result.data?.users[0]).toMatchObject({ role: { kommoId: expect.any(String) }, group: { kommoId: expect.any(String) } });
    expect(harness.demo.count('users')).toBe(1);
  });

  it('merges the rows of one lead looked up by id, and returns a deleted lead with isDeleted', async () => {
    const multi = expectedLeads(harness.demo).find((lead) => lead.tagIds.length >= 3);
    const result = await harness.execute(OneLeadDocument, { kommoId: multi?.kommoId as string });
    expect(result.data?.lead?.tags.map((tag) => tag.kommoId).sort()).toEqual([...(multi?.tagIds ?? [])].sort());
    const leadCalls = harness.demo.requests.filter((request) => request.endpoint === 'leads');
    expect(leadCalls.map((request) => request.query.leadId)).toEqual([multi?.kommoId]);

    const deleted = harness.demo.data.leadRows.find((row) => row.is_deleted === true);
    const gone = await harness.execute(OneLeadDocument, { kommoId: String(deleted?.lead_id) });
    expect(gone.data?.lead?.isDeleted).toBe(true);

    const missing = await harness.execute(OneLeadDocument, { kommoId: '1' });
    expect(missing.errors).toBeUndefined();
    expect(missing.data?.lead).toBeNull();
  });

  const filterCases: { name: string; filter: Record<string, unknown>; keep: (row: Row) => boolean; param: Record<string, string> }[] = [
    {
      name: 'pipelineId',
      filter: { pipelineId: '7000002' },
      keep: (row) => row.pipeline_id === '7000002',
      param: { pipelineId: '7000002' },
    },
    {
      name: 'statusId with pipelineId',
      filter: { pipelineId: '7000001', statusId: '142' },
      keep: (row) => row.pipeline_id === '7000001' && row.status_id === '142',
      param: { pipelineId: '7000001', statusId: '142' },
    },
    {
      name: 'responsibleUserId',
      filter: { responsibleUserId: '9000003' },
      keep: (row) => row.responsible_user_id === '9000003',
      param: { responsibleUserId: '9000003' },
    },
    { name: 'groupId', filter: { groupId: '301' }, keep: (row) => row.group_id === '301', param: { groupId: '301' } },
    { name: 'groupId 0 (the main group)', filter: { groupId: '0' }, keep: (row) => row.group_id === '0', param: { groupId: '0' } },
    { name: 'lossReasonId', filter: { lossReasonId: '502' }, keep: (row) => row.loss_reason_id === '502', param: { lossReasonId: '502' } },
    {
      name: 'createdAt range',
      filter: { createdAt: { from: '2025-06-01T00:00:00Z', to: '2025-06-30T23:59:59Z' } },
      keep: (row) =>
        typeof row.created_at === 'string' && row.created_at >= '2025-06-01T00:00:00' && row.created_at <= '2025-06-30T23:59:59',
      param: { createdStart: '2025-06-01T00:00:00.000Z', createdEnd: '2025-06-30T23:59:59.000Z' },
    },
    {
      name: 'updatedAt range (from only)',
      filter: { updatedAt: { from: '2026-10-01' } },
      keep: (row) => typeof row.updated_at === 'string' && row.updated_at >= '2026-10-01',
      param: { lastModifiedStart: '2026-10-01T00:00:00.000Z' },
    },
  ];

  for (const { name, filter, keep, param } of filterCases) {
    it(`filters by ${name}, upstream and exactly`, async () => {
      const expected = rowsOf(keep).map((lead) => lead.kommoId);
      expect(expected.length).toBeGreaterThan(0);
      const seen: string[] = [];
      let after: string | null | undefined = null;
      for (let i = 0; i < 50; i += 1) {
        const result: ExecutionResult<LeadsPageQuery> = await harness.execute(LeadsPageDocument, { first: 250, after, filter });
        expect(result.errors).toBeUndefined();
        seen.push(...(result.data?.leads.edges ?? []).map((edge) => edge.node.kommoId));
        if (!result.data?.leads.pageInfo.hasNextPage) break;
        after = result.data.leads.pageInfo.endCursor;
      }
      expect(seen).toEqual(expected);
      expect(harness.demo.requests.find((request) => request.endpoint === 'leads')?.query).toMatchObject(param);
    });
  }

  it('filters by tagId and by tagName (case-insensitive) and still shows all tags of each lead', async () => {
    const withTag = expectedLeads(harness.demo).filter((lead) => lead.tagIds.includes('102'));
    const byId = await harness.execute(LeadsPageDocument, { first: 250, filter: { tagId: '102' } });
    expect(byId.data?.leads.edges.map((edge) => edge.node.kommoId)).toEqual(withTag.slice(0, 250).map((lead) => lead.kommoId));
    const sample = byId.data?.leads.edges.find((edge) => edge.node.tags.length > 1);
    expect(sample?.node.tags.length).toBe(withTag.find((lead) => lead.kommoId === sample?.node.kommoId)?.tagIds.length);
    const byName = await harness.execute(LeadsPageDocument, { first: 250, filter: { tagName: 'vip' } });
    expect(byName.data?.leads.edges.map((edge) => edge.node.kommoId)).toEqual(withTag.slice(0, 250).map((lead) => lead.kommoId));
  });

  it('counts a small filtered result exactly', async () => {
    const expected = rowsOf((row) => row.pipeline_id === '7000004' && row.status_id === '143');
    const result = await harness.execute(LeadsPageDocument, { first: 1, filter: { pipelineId: '7000004', statusId: '143' } });
    expect(result.data?.leads.totalCount).toBe(expected.length);
  });

  it('Pipeline.leads and Status.leads are the same connection scoped to the parent; 142 of one pipeline is not 142 of another', async () => {
    const result = await harness.execute(PipelineLeadsDocument, { kommoId: '7000003', first: 20 });
    expect(result.errors).toBeUndefined();
    const pipeline = result.data?.pipeline;
    expect(pipeline?.leads.edges.map((edge) => edge.node.kommoId)).toEqual(
      rowsOf((row) => row.pipeline_id === '7000003')
        .slice(0, 20)
        .map((lead) => lead.kommoId),
    );
    for (const status of pipeline?.statuses ?? []) {
      for (const { node } of status.leads.edges) {
        expect(node.pipeline?.kommoId).toBe('7000003');
        expect(node.status?.kommoId).toBe(status.kommoId);
      }
    }
    const won = pipeline?.statuses.find((status) => status.kommoId === '142');
    expect(won?.leads.edges.length).toBeGreaterThan(0);
    expect(harness.demo.count('pipelines')).toBe(1);
  });

  it('a filter that contradicts the parent scope is an empty page with no upstream call', async () => {
    const result = await harness.execute(PipelineLeadsDocument, { kommoId: '7000003', first: 5, filter: { pipelineId: '7000001' } });
    expect(result.data?.pipeline?.leads.edges).toEqual([]);
    expect(harness.demo.requests.filter((request) => request.endpoint === 'leads' && request.query.pipelineId === '7000001')).toHaveLength(
      0,
    );
  });

  it('User.leads lists the leads the user is responsible for', async () => {
    const result = await harness.execute(UserLeadsDocument, { kommoId: '9000005', first: 10 });
    expect(result.data?.user?.leads.edges.map((edge) => edge.node.kommoId)).toEqual(
      rowsOf((row) => row.responsible_user_id === '9000005')
        .slice(0, 10)
        .map((lead) => lead.kommoId),
    );
    expect(result.data?.user?.leads.edges.every((edge) => edge.node.responsibleUser?.kommoId === '9000005')).toBe(true);
  });

  it('node(id) round-trips every type, and nodes(ids) batches reference lookups into one call', async () => {
    const pipelines = await harness.execute(PipelinesDocument, {});
    const leads = await harness.execute(LeadsPageDocument, { first: 2 });
    const users = await harness.execute(UsersDocument, {});
    const status = pipelines.data?.pipelines[1]?.statuses.find((s) => s.kommoId === '142');
    const ids = [pipelines.data?.pipelines[0]?.id, status?.id, users.data?.users[3]?.id, leads.data?.leads.edges[0]?.node.id] as string[];

    const statusNode = await harness.execute(NodeDocument, { id: status?.id as string });
    expect(statusNode.data?.node).toMatchObject({
      __typename: 'Status',
      kommoId: '142',
      pipeline: { kommoId: pipelines.data?.pipelines[1]?.kommoId },
    });

    const userIds = (users.data?.users ?? []).slice(0, 20).map((user) => user.id);
    harness.demo.reset();
    const nodes = await harness.execute(NodesDocument, { ids: [...ids, ...userIds] });
    expect(nodes.errors).toBeUndefined();
    expect(nodes.data?.nodes.slice(0, 4).map((node) => node?.__typename)).toEqual(['Pipeline', 'Status', 'User', 'Lead']);
    expect(nodes.data?.nodes.map((node) => node?.id)).toEqual([...ids, ...userIds]);
    expect(harness.demo.count('users')).toBe(1);
    expect(harness.demo.count('pipelines')).toBe(1);
    expect(harness.demo.count('leads')).toBe(1);
  });

  it('500 Lead representations (_entities) cost the blocks of the lead table and resolve with their pipelines', async () => {
    const all = expectedLeads(harness.demo, () => true).map((lead) => lead.kommoId);
    const ids = [...all.slice(0, 480), ...all.slice(0, 10), '1', '2', ...all.slice(2000, 2008)];
    const query = `query($representations: [_Any!]!) { _entities(representations: $representations) {
      ... on Lead { kommoId isDeleted pipeline { name } status { name } } } }`;
    const response = await harness.post({ query, variables: { representations: ids.map((kommoId) => ({ __typename: 'Lead', kommoId })) } });
    const body = (await response.json()) as ExecutionResult<{
      _entities: ({ kommoId: string; pipeline: { name: string } | null } | null)[];
    }>;
    expect(body.errors).toBeUndefined();
    expect(body.data?._entities.map((entity) => entity?.kommoId ?? null)).toEqual(ids.map((id) => (id === '1' || id === '2' ? null : id)));
    expect(body.data?._entities.filter((entity) => entity !== null).every((entity) => entity.pipeline !== null)).toBe(true);
    // The table's blocks, then one call for each id they did not hold ("1" and "2": none has them).
    const blocks = Math.ceil(harness.demo.data.leadRows.length / 500);
    const calls = harness.demo.requests.filter((request) => request.endpoint === 'leads');
    expect(calls.filter((request) => request.query.leadId === undefined)).toHaveLength(blocks);
    expect(calls.map((request) => request.query.leadId).filter(Boolean)).toEqual(['1', '2']);
    expect(harness.demo.count('pipelines')).toBe(1);
  });

  it('node(id) of something that does not exist is null', async () => {
    const id = Buffer.from('User:123456').toString('base64');
    const result = await harness.execute(NodeDocument, { id });
    expect(result.errors).toBeUndefined();
    expect(result.data?.node).toBeNull();
  });

  it('fetches the reference tables in parallel with the leads block when the page selects them', async () => {
    harness.demo.setLatency(200); // long enough that the three calls overlap even on a loaded machine
    try {
      const result = await harness.execute(LeadsWithPeopleDocument, { first: 5 });
      expect(result.errors).toBeUndefined();
      expect([harness.demo.count('leads'), harness.demo.count('pipelines'), harness.demo.count('users')]).toEqual([1, 1, 1]);
      expect(harness.demo.maxInFlight).toBe(3);
      harness.demo.reset();
      // Nothing selected from the tables: nothing fetched.
      await harness.execute(LeadsPageDocument, { first: 5 });
      expect(harness.demo.requests.map((request) => request.endpoint)).toEqual(['leads']);
    } finally {
      harness.demo.setLatency(0);
    }
  });

  it('two windows of one request share the upstream block', async () => {
    const response = await harness.post({
      query:
        '{ a: leads(first: 10) { edges { cursor } } b: leads(first: 40) { edges { cursor } } c: leads(last: 5, before: null, first: null) { edges { cursor } } }',
    });
    const body = (await response.json()) as { data: { a: { edges: unknown[] }; b: { edges: unknown[] } } };
    expect(body.data.a.edges).toEqual(body.data.b.edges.slice(0, 10));
    expect(harness.demo.requests.filter((request) => request.endpoint === 'leads' && request.query.page === '1')).toHaveLength(1);
  });
});
