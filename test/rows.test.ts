import { describe, expect, it } from 'vitest';
import { groupPipelineRows, parseEnvelope, parseLeadRow, parseUserRow } from '../src/sources/v4/rows.js';

const lead = {
  lead_id: '123',
  lead_name: 'Annual plan',
  status_id: '142',
  price: 1500.5,
  responsible_user_id: '77',
  group_id: '0',
  pipeline_id: '9',
  loss_reason_id: null,
  created_by: '0',
  updated_by: '78',
  created_at: '2026-03-01T10:00:00.000Z',
  updated_at: '2026-03-02T10:00:00+02:00',
  closed_at: null,
  closest_task_at: '',
  is_deleted: false,
  custom_fields_values:
    '[{"field_id":5,"field_name":"Segment","field_code":null,"field_type":"select","values":[{"value":"SMB","enum_id":61,"enum":"SMB_CODE"}]},{"field_id":6,"values":[{"value":42}]}]',
  score: '17',
  labor_cost: 3600,
  source_id: '801',
  source_name: 'Website form',
  tags: '[{"id":1,"name":"hot","color":"#f00"},{"id":2,"name":"vip","color":null}]',
  contacts_ids: '[501, 502]',
  loss_reason: null,
  tag_id: '2',
  tag_name: 'vip',
  tag_color: null,
  brand_new_column: { nested: true },
};

describe('V4 lead rows', () => {
  it('maps every field of a well-formed row', () => {
    expect(parseLeadRow(lead)).toEqual({
      kommoId: '123',
      name: 'Annual plan',
      price: 1500.5,
      pipelineId: '9',
      statusId: '142',
      responsibleUserId: '77',
      createdById: null,
      updatedById: '78',
      groupId: '0',
      lossReason: null,
      tags: [
        { kommoId: '1', name: 'hot', color: '#f00' },
        { kommoId: '2', name: 'vip', color: null },
      ],
      contactIds: ['501', '502'],
      customFields: [
        { fieldId: '5', name: 'Segment', code: null, type: 'select', values: [{ value: 'SMB', enumId: '61', enumCode: 'SMB_CODE' }] },
        { fieldId: '6', name: null, code: null, type: null, values: [{ value: '42', enumId: null, enumCode: null }] },
      ],
      score: 17,
      laborCostSeconds: 3600,
      source: { kommoId: '801', name: 'Website form' },
      createdAt: new Date('2026-03-01T10:00:00.000Z'),
      updatedAt: new Date('2026-03-02T08:00:00.000Z'),
      closedAt: null,
      closestTaskAt: null,
      isDeleted: false,
    });
  });

  it('falls back on non-JSON strings: comma lists, Postgres braces, empty strings', () => {
    const parsed = parseLeadRow({ ...lead, tags: 'hot,vip', contacts_ids: '{501,502}', custom_fields_values: 'not json' });
    expect(parsed?.contactIds).toEqual(['501', '502']);
    expect(parsed?.customFields).toEqual([]);
    // Tag names without ids cannot become tags; the row's own tag column still carries one with its id.
    expect(parsed?.tags).toEqual([{ kommoId: '2', name: 'vip', color: null }]);
    const empty = parseLeadRow({ ...lead, tags: '', contacts_ids: null, custom_fields_values: '', tag_id: null, tag_name: null });
    expect(empty).toMatchObject({ tags: [], contactIds: [], customFields: [] });
  });

  it('never fails on bad values: they become null or documented fallbacks', () => {
    const parsed = parseLeadRow({
      lead_id: 124,
      lead_name: null,
      price: 'n/a',
      score: 'high',
      created_at: 'not a date',
      updated_at: '2026-01-05T00:00:00Z',
      responsible_user_id: '0',
      pipeline_id: 'abc',
      is_deleted: 'true',
      custom_fields_values: '{"not": "a list"}',
      tags: '[1, null, {"id": "x"}]',
    });
    expect(parsed).toMatchObject({
      kommoId: '124',
      name: '',
      price: 0,
      score: null,
      responsibleUserId: null,
      pipelineId: null,
      isDeleted: true,
      customFields: [],
      tags: [],
      createdAt: new Date('2026-01-05T00:00:00Z'),
    });
  });

  it('reads loss reasons given as a name or as a JSON copy of Kommo', () => {
    expect(parseLeadRow({ ...lead, loss_reason_id: '5', loss_reason: 'Too expensive' })?.lossReason).toEqual({
      kommoId: '5',
      name: 'Too expensive',
    });
    expect(parseLeadRow({ ...lead, loss_reason_id: null, loss_reason: '[{"id":6,"name":"No budget"}]' })?.lossReason).toEqual({
      kommoId: '6',
      name: 'No budget',
    });
  });

  it('skips a row without a lead id', () => {
    expect(parseLeadRow({ ...lead, lead_id: null })).toBeNull();
    expect(parseLeadRow({ ...lead, lead_id: '' })).toBeNull();
  });
});

describe('V4 envelopes', () => {
  it('reads the meta envelope of the leads docs', () => {
    expect(
      parseEnvelope({ data: [{ a: 1 }, 'junk'], meta: { page: 2, limit: 10, hasNextPage: false, hasPreviousPage: true } }, '/x'),
    ).toEqual({
      rows: [{ a: 1 }],
      hasNextPage: false,
      totalRows: null,
      limit: 10,
    });
  });

  it('reads the pagination envelope of the generic docs, with its row total', () => {
    const page = parseEnvelope(
      { data: [], pagination: { currentPage: 1, totalPages: 3, totalRecords: 1234, limit: 500, hasNextPage: true } },
      '/x',
    );
    expect(page).toEqual({ rows: [], hasNextPage: true, totalRows: 1234, limit: 500 });
  });

  it('refuses a body without a data list', () => {
    expect(() => parseEnvelope({ items: [] }, '/v1/kommo/users')).toThrow(/without a "data" list/);
    expect(() => parseEnvelope(null, '/v1/kommo/users')).toThrow(/without a "data" list/);
  });
});

describe('V4 reference rows', () => {
  it('groups (pipeline, status) rows into pipelines with sorted statuses, 142/143 in each', () => {
    const row = (pipeline: string, status: string, sort: number, type = 0) => ({
      pipeline_id: pipeline,
      pipeline_name: `P${pipeline}`,
      pipeline_sort: 1,
      is_main: pipeline === '1',
      is_archive: 'false',
      status_id: status,
      status_name: `S${status}`,
      status_sort: sort,
      status_type: type,
      status_color: '#fff',
      is_editable: true,
    });
    const pipelines = groupPipelineRows([
      row('1', '143', 11000),
      row('1', '10', 10, 1),
      row('2', '142', 10000),
      row('1', '142', 10000),
      row('2', '20', 10),
      row('1', '10', 10),
    ]);
    expect(pipelines.map((p) => [p.kommoId, p.isMain, p.statuses.map((s) => s.kommoId)])).toEqual([
      ['1', true, ['10', '142', '143']],
      ['2', false, ['20', '142']],
    ]);
    expect(pipelines[0]?.statuses[0]).toMatchObject({ pipelineId: '1', type: 1 });
  });

  it('reads users, with "0" and missing ids skipped', () => {
    expect(
      parseUserRow({
        user_id: '5',
        user_name: 'Ana',
        email: 'a@x',
        is_admin: 1,
        is_active: 'false',
        role_id: '2',
        role_name: 'SDR',
        group_id: '0',
        group_name: 'Main',
      }),
    ).toEqual({
      kommoId: '5',
      name: 'Ana',
      email: 'a@x',
      isAdmin: true,
      isActive: false,
      role: { kommoId: '2', name: 'SDR' },
      group: { kommoId: '0', name: 'Main' },
    });
    expect(parseUserRow({ user_id: '0' })).toBeNull();
  });
});
