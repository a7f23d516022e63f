import { builder } from '../builder.js';
import { BadUserInputError } from '../errors.js';
import type { IndexFilter, IndexQuery, NumberRange, TimeRange } from '../index/store.js';
import type { LeadSelection } from '../pagination.js';
import type { LeadQuery } from '../sources/adapter.js';
import { toId } from '../sources/values.js';

export const DateTimeRange = builder.inputType('DateTimeRange', {
  description: 'An inclusive range of instants; either end may be left open.',
  fields: (t) => ({
    from: t.field({ type: 'DateTime', required: false, description: 'Earliest instant, inclusive.' }),
    to: t.field({ type: 'DateTime', required: false, description: 'Latest instant, inclusive.' }),
  }),
});

export const PriceRange = builder.inputType('PriceRange', {
  description: 'An inclusive range of deal values; either end may be left open.',
  fields: (t) => ({
    min: t.float({ required: false, description: 'Lowest value, inclusive.' }),
    max: t.float({ required: false, description: 'Highest value, inclusive.' }),
  }),
});

export const LeadOrderField = builder.enumType('LeadOrderField', {
  description: 'What leads can be sorted by (from the lead index). Ties are broken by `kommoId`, numerically, in the same direction.',
  values: {
    ID: { description: 'The Kommo lead id, numerically.' },
    CREATED_AT: { description: 'When the lead was created.' },
    UPDATED_AT: { description: 'When the lead was last changed.' },
    CLOSED_AT: { description: 'When the lead was won or lost; open leads (no value) sort last ascending, first descending.' },
    PRICE: { description: 'The deal value.' },
    NAME: { description: 'The lead name, case-insensitively.' },
  } as const,
});

export const OrderDirection = builder.enumType('OrderDirection', {
  description: 'A sort direction. A missing value counts as greater than any value (as in PostgreSQL).',
  values: {
    ASC: { description: 'Smallest first; leads without the value last.' },
    DESC: { description: 'Largest first; leads without the value first.' },
  } as const,
});

export const LeadOrder = builder.inputType('LeadOrder', {
  description:
    "How a lead connection is sorted. Served from the lead index: before a tenant's index is ready, a sorted query waits for it (LEADGRAPH_INDEX_WAIT_MS), then fails with INDEX_NOT_READY.",
  fields: (t) => ({
    field: t.field({ type: LeadOrderField, required: true, description: 'The value to sort by.' }),
    direction: t.field({ type: OrderDirection, required: true, defaultValue: 'ASC', description: 'The direction (default ASC).' }),
  }),
});

export const LeadFilter = builder.inputType('LeadFilter', {
  description: 'Narrows a lead list. Every field is optional and they combine with AND. Ids are Kommo ids (`kommoId`), not global ids.',
  fields: (t) => ({
    statusId: t.id({
      required: false,
      description: 'Leads in this stage (Kommo status id). Combine with `pipelineId`: 142 and 143 exist in every pipeline.',
    }),
    pipelineId: t.id({ required: false, description: 'Leads in this pipeline.' }),
    responsibleUserId: t.id({ required: false, description: 'Leads this user is responsible for.' }),
    groupId: t.id({ required: false, description: 'Leads of this user group.' }),
    lossReasonId: t.id({ required: false, description: 'Lost leads with this loss reason.' }),
    tagId: t.id({ required: false, description: 'Leads carrying this tag (by Kommo tag id).' }),
    tagName: t.string({ required: false, description: 'Leads carrying a tag with this name (case-insensitive).' }),
    createdAt: t.field({ type: DateTimeRange, required: false, description: 'Leads created in this range.' }),
    updatedAt: t.field({ type: DateTimeRange, required: false, description: 'Leads last modified in this range.' }),
    closedAt: t.field({
      type: DateTimeRange,
      required: false,
      description: 'Leads won or lost in this range (open leads match no range). Served from the lead index.',
    }),
    price: t.field({
      type: PriceRange,
      required: false,
      description: 'Leads whose deal value is in this range. Served from the lead index.',
    }),
    search: t.string({
      required: false,
      description: 'Leads whose name contains this text, case-insensitively (1 to 200 characters). Served from the lead index.',
    }),
    includeDeleted: t.boolean({
      required: false,
      defaultValue: false,
      description: 'Also return leads deleted in Kommo but still in the warehouse (`isDeleted: true`).',
    }),
  }),
});

export type LeadFilterInput = typeof LeadFilter.$inferInput;

const ID_FIELDS = ['statusId', 'pipelineId', 'responsibleUserId', 'groupId', 'lossReasonId', 'tagId'] as const;

/** A Kommo id (a positive whole number) normalized, or null when `value` is not one. */
export function parseKommoId(value: unknown, allowZero = false): string | null {
  return toId(value, allowZero);
}

/** Checks a Kommo id argument. */
export function kommoId(value: string, argument: string, allowZero = false): string {
  const id = parseKommoId(value, allowZero);
  if (id === null) {
    throw new BadUserInputError(
      `"${argument}" must be a Kommo id (a ${allowZero ? 'whole' : 'positive whole'} number), got ${JSON.stringify(value.slice(0, 40))}`,
      argument,
    );
  }
  return id;
}

function range(value: { from?: Date | null; to?: Date | null } | null | undefined, name: string) {
  const from = value?.from ?? undefined;
  const to = value?.to ?? undefined;
  if (from && to && from.getTime() > to.getTime()) {
    throw new BadUserInputError(`"filter.${name}": "from" (${from.toISOString()}) is after "to" (${to.toISOString()})`, `filter.${name}`);
  }
  return { from, to };
}

/** The filters only the lead index applies, checked: null when the filter has none. */
export function indexOnlyFilters(filter: LeadFilterInput | null | undefined): IndexOnlyFilters | null {
  const out: { search?: string; price?: NumberRange; closedAt?: TimeRange } = {};
  if (filter?.search !== undefined && filter.search !== null) {
    const search = filter.search.trim();
    if (!search || search.length > 200) throw new BadUserInputError('"filter.search" must be 1 to 200 characters', 'filter.search');
    out.search = search;
  }
  if (filter?.price) {
    const min = filter.price.min ?? undefined;
    const max = filter.price.max ?? undefined;
    if (min !== undefined && max !== undefined && min > max) {
      throw new BadUserInputError(`"filter.price": "min" (${min}) is above "max" (${max})`, 'filter.price');
    }
    if (min !== undefined || max !== undefined)
      out.price = { ...(min !== undefined ? { min } : {}), ...(max !== undefined ? { max } : {}) };
  }
  const closed = range(filter?.closedAt, 'closedAt');
  if (closed.from || closed.to) out.closedAt = { ...(closed.from ? { from: closed.from } : {}), ...(closed.to ? { to: closed.to } : {}) };
  return Object.keys(out).length > 0 ? out : null;
}

export type IndexOnlyFilters = Pick<IndexFilter, 'search' | 'price' | 'closedAt'>;

/** The lead index's query for a root filter, unsorted; null when the filter contradicts itself (nothing matches). */
export function toIndexQuery(filter: LeadFilterInput | null | undefined): IndexQuery | null {
  const selection = toLeadSelection(filter);
  const extra = indexOnlyFilters(filter);
  return selection ? { filter: { ...selection.query, ...extra }, orderBy: null, includeDeleted: selection.includeDeleted } : null;
}

/**
 * A GraphQL filter plus the parent's scope (Pipeline.leads, Status.leads, User.leads) as one
 * selection; null when they contradict each other, which is an empty result with no upstream call.
 */
export function toLeadSelection(
  filter: LeadFilterInput | null | undefined,
  scope: Partial<Record<(typeof ID_FIELDS)[number], string>> = {},
): LeadSelection | null {
  // The whole filter is validated before the scope is applied: a nested filter is refused exactly as the root's is.
  const query: { -readonly [K in keyof LeadQuery]: LeadQuery[K] } = {};
  let contradicts = false;
  for (const field of ID_FIELDS) {
    const given = filter?.[field];
    // Group 0 is Kommo's main group; every other id is positive.
    const value = given === null || given === undefined ? undefined : kommoId(given, `filter.${field}`, field === 'groupId');
    const scoped = scope[field];
    if (scoped !== undefined && value !== undefined && scoped !== value) contradicts = true;
    const chosen = scoped ?? value;
    if (chosen !== undefined) query[field] = chosen;
  }
  const tagName = filter?.tagName?.trim();
  if (filter?.tagName !== undefined && filter.tagName !== null) {
    if (!tagName || tagName.length > 200) throw new BadUserInputError('"filter.tagName" must be 1 to 200 characters', 'filter.tagName');
    query.tagName = tagName;
  }
  const created = range(filter?.createdAt, 'createdAt');
  const updated = range(filter?.updatedAt, 'updatedAt');
  if (created.from) query.createdFrom = created.from;
  if (created.to) query.createdTo = created.to;
  if (updated.from) query.updatedFrom = updated.from;
  if (updated.to) query.updatedTo = updated.to;
  return contradicts ? null : { query, includeDeleted: filter?.includeDeleted ?? false };
}
