import { builder } from '../builder.js';
import { BadUserInputError } from '../errors.js';
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
