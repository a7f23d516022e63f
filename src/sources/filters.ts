/** Turns a filter table into a request's upstream parameters, and refuses what the source cannot apply. */
import { BadUserInputError } from '../errors.js';
import type { FilterRefusal, FilterRule, FilterTable, LeadAdapter, LeadQuery } from './adapter.js';

const isRefusal = (value: object): value is FilterRefusal => 'refuse' in value;

/** The upstream parameters of `query`; throws BAD_USER_INPUT naming the first filter the table refuses. */
export function filterParams(table: FilterTable, query: LeadQuery, sourceName: string): Record<string, string> {
  const params: Record<string, string> = {};
  for (const key of Object.keys(table) as (keyof LeadQuery)[]) {
    const value = query[key];
    if (value === undefined) continue;
    const rule = table[key] as FilterRule<typeof key>;
    const sent = isRefusal(rule) ? rule : rule.send(value as never, query);
    if (isRefusal(sent)) refuse(key, sent.refuse, sourceName);
    Object.assign(params, sent);
  }
  return params;
}

/** Refuses (BAD_USER_INPUT, naming the filter and the source) a selection the adapter cannot apply. */
export function checkSelection(adapter: LeadAdapter, query: LeadQuery, includeDeleted: boolean): void {
  filterParams(adapter.filters, query, adapter.sourceName);
  if (includeDeleted && adapter.deletedLeads !== 'listed') refuse('includeDeleted', adapter.deletedLeads.refuse, adapter.sourceName);
}

function refuse(filter: string, why: string, sourceName: string): never {
  throw new BadUserInputError(`"filter.${filter}" is not supported by ${sourceName}: ${why}`, `filter.${filter}`);
}
