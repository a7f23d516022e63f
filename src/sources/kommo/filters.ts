/**
 * The Kommo leads filters (`filter[...]`). Time ranges are widened to whole seconds; the gateway
 * re-checks every lead exactly. What the Kommo leads API cannot filter is refused, never ignored.
 */
import type { FilterRefusal, FilterTable } from '../adapter.js';

type Params = Readonly<Record<string, string>>;

const unixFloor = (date: Date): string => String(Math.floor(date.getTime() / 1000));
const unixCeil = (date: Date): string => String(Math.ceil(date.getTime() / 1000));

export const kommoFilters: FilterTable = {
  // A stage is (pipeline, status): 142 and 143 exist in every pipeline.
  statusId: {
    send: (statusId, query): Params | FilterRefusal =>
      query.pipelineId === undefined
        ? { refuse: 'Kommo identifies a stage by pipeline and status: add "pipelineId"' }
        : { 'filter[statuses][0][pipeline_id]': query.pipelineId, 'filter[statuses][0][status_id]': statusId },
  },
  pipelineId: { send: (pipelineId, query): Params => (query.statusId === undefined ? { 'filter[pipeline_id][]': pipelineId } : {}) },
  responsibleUserId: { send: (userId) => ({ 'filter[responsible_user_id][]': userId }) },
  groupId: { refuse: 'the Kommo leads API has no group filter' },
  lossReasonId: { refuse: 'the Kommo leads API has no loss reason filter' },
  tagId: { refuse: 'the Kommo leads API has no tag filter' },
  tagName: { refuse: 'the Kommo leads API has no tag filter' },
  createdFrom: { send: (date) => ({ 'filter[created_at][from]': unixFloor(date) }) },
  createdTo: { send: (date) => ({ 'filter[created_at][to]': unixCeil(date) }) },
  updatedFrom: { send: (date) => ({ 'filter[updated_at][from]': unixFloor(date) }) },
  updatedTo: { send: (date) => ({ 'filter[updated_at][to]': unixCeil(date) }) },
};
