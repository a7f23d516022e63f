import { describe, expect, it } from 'vitest';
import type { LeadAdapter, LeadQuery } from '../src/sources/adapter.js';
import { checkSelection, filterParams } from '../src/sources/filters.js';
import { kommoFilters } from '../src/sources/kommo/filters.js';
import { v4Filters } from '../src/sources/v4/filters.js';

const every: Required<LeadQuery> = {
  statusId: '142',
  pipelineId: '7000001',
  responsibleUserId: '9000001',
  groupId: '0',
  lossReasonId: '501',
  tagId: '101',
  tagName: 'vip',
  createdFrom: new Date('2026-01-01T00:00:00.250Z'),
  createdTo: new Date('2026-01-31T23:59:59.750Z'),
  updatedFrom: new Date('2026-02-01T00:00:00Z'),
  updatedTo: new Date('2026-02-28T00:00:00Z'),
};

const refusalOf = (run: () => unknown): { message: string; argument: unknown } | null => {
  try {
    run();
    return null;
  } catch (error) {
    return { message: (error as Error).message, argument: (error as { extensions?: { argument?: unknown } }).extensions?.argument };
  }
};

describe('filter tables', () => {
  it('V4 sends every filter as its single-valued parameter, times as ISO-8601', () => {
    expect(filterParams(v4Filters, every, 'the v4 source')).toEqual({
      statusId: '142',
      pipelineId: '7000001',
      responsibleUserId: '9000001',
      groupId: '0',
      lossReasonId: '501',
      tagId: '101',
      tagName: 'vip',
      createdStart: '2026-01-01T00:00:00.250Z',
      createdEnd: '2026-01-31T23:59:59.750Z',
      lastModifiedStart: '2026-02-01T00:00:00.000Z',
      lastModifiedEnd: '2026-02-28T00:00:00.000Z',
    });
    expect(filterParams(v4Filters, {}, 'the v4 source')).toEqual({});
  });

  it('Kommo sends a stage as (pipeline, status), a pipeline alone as a list, and widens times to whole seconds', () => {
    const { statusId, pipelineId, responsibleUserId, createdFrom, createdTo, updatedFrom, updatedTo } = every;
    const query = { statusId, pipelineId, responsibleUserId, createdFrom, createdTo, updatedFrom, updatedTo };
    expect(filterParams(kommoFilters, query, 'the kommo source')).toEqual({
      'filter[statuses][0][pipeline_id]': '7000001',
      'filter[statuses][0][status_id]': '142',
      'filter[responsible_user_id][]': '9000001',
      'filter[created_at][from]': String(Math.floor(createdFrom.getTime() / 1000)),
      'filter[created_at][to]': String(Math.ceil(createdTo.getTime() / 1000)),
      'filter[updated_at][from]': String(updatedFrom.getTime() / 1000),
      'filter[updated_at][to]': String(updatedTo.getTime() / 1000),
    });
    expect(filterParams(kommoFilters, { pipelineId }, 'the kommo source')).toEqual({ 'filter[pipeline_id][]': '7000001' });
  });

  it('Kommo refuses what its leads API cannot filter, naming the filter and the source', () => {
    for (const filter of ['groupId', 'lossReasonId', 'tagId', 'tagName'] as const) {
      const refusal = refusalOf(() => filterParams(kommoFilters, { [filter]: every[filter] }, 'the kommo source'));
      expect(refusal?.argument).toBe(`filter.${filter}`);
      expect(refusal?.message).toMatch(
        new RegExp(`^"filter\\.${filter}" is not supported by the kommo source: the Kommo leads API has no`),
      );
    }
    expect(refusalOf(() => filterParams(kommoFilters, { statusId: '142' }, 'the kommo source'))?.message).toMatch(/add "pipelineId"/);
  });

  it('an adapter that cannot list deleted leads refuses includeDeleted; one that can accepts it', () => {
    const adapter = (deletedLeads: LeadAdapter['deletedLeads']) =>
      ({ sourceName: 'a test source', filters: v4Filters, deletedLeads }) as unknown as LeadAdapter;
    expect(refusalOf(() => checkSelection(adapter({ refuse: 'it has none' }), {}, true))).toEqual({
      message: '"filter.includeDeleted" is not supported by a test source: it has none',
      argument: 'filter.includeDeleted',
    });
    expect(refusalOf(() => checkSelection(adapter('listed'), every, true))).toBeNull();
    expect(refusalOf(() => checkSelection(adapter({ refuse: 'it has none' }), every, false))).toBeNull();
  });
});
