/** The V4 leads filters: single-valued equality parameters and ISO-8601 time ranges. Nothing is refused. */
import type { FilterTable } from '../adapter.js';

const iso = (name: string) => ({ send: (value: Date) => ({ [name]: value.toISOString() }) });
const equal = (name: string) => ({ send: (value: string) => ({ [name]: value }) });

export const v4Filters: FilterTable = {
  statusId: equal('statusId'),
  pipelineId: equal('pipelineId'),
  responsibleUserId: equal('responsibleUserId'),
  groupId: equal('groupId'),
  lossReasonId: equal('lossReasonId'),
  // Matches the lead's exploded tag row; the gateway re-checks the merged lead.
  tagId: equal('tagId'),
  tagName: equal('tagName'),
  createdFrom: iso('createdStart'),
  createdTo: iso('createdEnd'),
  updatedFrom: iso('lastModifiedStart'),
  updatedTo: iso('lastModifiedEnd'),
};
