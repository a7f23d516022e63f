/** What a source adapter serves, in domain terms: the interface the V4 and Kommo adapters implement. */
import { DomainError } from '../errors.js';
import type { LeadReader } from '../index/sync.js';

export interface IdName {
  readonly kommoId: string;
  readonly name: string | null;
}

export interface Tag {
  readonly kommoId: string;
  readonly name: string;
  readonly color: string | null;
}

export interface CustomFieldEntry {
  readonly value: string | null;
  readonly enumId: string | null;
  readonly enumCode: string | null;
}

export interface CustomFieldValue {
  readonly fieldId: string;
  readonly name: string | null;
  readonly code: string | null;
  readonly type: string | null;
  readonly values: readonly CustomFieldEntry[];
}

export interface Lead {
  readonly kommoId: string;
  readonly name: string;
  readonly price: number;
  readonly pipelineId: string | null;
  readonly statusId: string | null;
  readonly responsibleUserId: string | null;
  readonly createdById: string | null;
  readonly updatedById: string | null;
  readonly groupId: string | null;
  readonly lossReason: IdName | null;
  readonly tags: readonly Tag[];
  readonly contactIds: readonly string[];
  readonly customFields: readonly CustomFieldValue[];
  readonly score: number | null;
  readonly laborCostSeconds: number | null;
  readonly source: IdName | null;
  readonly createdAt: Date;
  readonly updatedAt: Date;
  readonly closedAt: Date | null;
  readonly closestTaskAt: Date | null;
  readonly isDeleted: boolean;
}

export interface Status {
  readonly kommoId: string;
  readonly pipelineId: string;
  readonly name: string;
  readonly color: string | null;
  readonly sort: number | null;
  /** Kommo's status `type`: 1 = incoming (unsorted), 0 = regular. */
  readonly type: number | null;
  readonly isEditable: boolean | null;
}

export interface Pipeline {
  readonly kommoId: string;
  readonly name: string;
  readonly sort: number | null;
  readonly isMain: boolean;
  readonly isArchived: boolean;
  readonly statuses: readonly Status[];
}

export interface User {
  readonly kommoId: string;
  readonly name: string;
  readonly email: string | null;
  readonly isAdmin: boolean | null;
  readonly isActive: boolean | null;
  readonly role: IdName | null;
  readonly group: IdName | null;
}

/** Filters the upstream applies; every one is also re-checked locally (see `matchesQuery`). */
export interface LeadQuery {
  readonly statusId?: string;
  readonly pipelineId?: string;
  readonly responsibleUserId?: string;
  readonly groupId?: string;
  readonly lossReasonId?: string;
  readonly tagId?: string;
  readonly tagName?: string;
  readonly createdFrom?: Date;
  readonly createdTo?: Date;
  readonly updatedFrom?: Date;
  readonly updatedTo?: Date;
}

/**
 * One upstream row's worth of a lead. Sources that explode a lead into several adjacent rows
 * (V4: one row per tag) return one fragment per row; the pager merges adjacent fragments.
 */
export interface LeadFragment {
  /** The lead's id: all the scanner needs to merge adjacent rows. */
  readonly kommoId: string;
  /** The row as a lead; adapters may parse it lazily, on first access. */
  readonly lead: Lead;
  /** Absolute row position in the filtered upstream result (0-based). */
  readonly position: number;
}

export interface LeadBlock {
  readonly fragments: readonly LeadFragment[];
  /** True when no rows follow this block. */
  readonly isLast: boolean;
  /** Total rows of the result when the upstream reports it (an upper bound on leads), else null. */
  readonly totalRows: number | null;
}

/**
 * A source adapter, created per request for one tenant: it turns domain questions into upstream
 * calls through its transport and upstream answers into domain objects.
 */
export interface LeadAdapter {
  /** How errors name this source, e.g. "the kommo source". */
  readonly sourceName: string;
  /** Rows per block: block `i` holds rows `[i * blockSize, (i + 1) * blockSize)`. */
  readonly blockSize: number;
  /** What this source sends upstream for each filter, or why it cannot apply it. */
  readonly filters: FilterTable;
  /** Whether it can list deleted leads with the others (`includeDeleted`), or why not. */
  readonly deletedLeads: 'listed' | { readonly refuse: string };
  readLeadBlock(query: LeadQuery, index: number, signal?: AbortSignal): Promise<LeadBlock>;
  /**
   * The leads with these ids (distinct, validated), each with all its rows merged, deleted or not;
   * ids the upstream does not know are missing from the result. Batched as far as the source allows.
   */
  getLeads(kommoIds: readonly string[], signal?: AbortSignal): Promise<readonly (Lead | UnresolvedLead)[]>;
  /**
   * The upstream calls `getLeads` makes for `ids` distinct ids that exist, for the call plan (src/plan.ts),
   * given the blocks of the unfiltered lead table: a number when known, null when the upstream reports
   * no total, undefined when not known yet.
   */
  lookupCalls(ids: number, tableBlocks: number | null | undefined): number;
  /**
   * How the lead index (src/index/sync.ts) reads this source: its largest pages, filtered to the leads
   * modified since a watermark, and the deletions the normal list leaves out.
   */
  readonly indexReader: LeadReader;
  /** Every pipeline with its statuses (the whole table, however many upstream pages). */
  listPipelines(signal?: AbortSignal): Promise<readonly Pipeline[]>;
  /** Every user (the whole table). */
  listUsers(signal?: AbortSignal): Promise<readonly User[]>;
  /** The users with these ids, however the source can get them (missing ids are left out). */
  getUsers(kommoIds: readonly string[], signal?: AbortSignal): Promise<readonly User[]>;
}

/** How many blocks a result has, from its first block: null when the upstream reports no total. */
export function blocksOf(first: LeadBlock, blockSize: number): number | null {
  if (first.isLast) return 1;
  return first.totalRows === null ? null : Math.ceil(first.totalRows / blockSize);
}

/**
 * An id a lookup could not check because the request's upstream calls ran out (UPSTREAM_CALL_LIMIT):
 * its fields get the error, the rest of the batch its leads.
 */
export interface UnresolvedLead {
  readonly kommoId: string;
  readonly unresolved: Error;
}

export const isUnresolved = (entry: Lead | UnresolvedLead): entry is UnresolvedLead => 'unresolved' in entry;

/** Whether an error is the request's call allowance running out (the transport's allowance layer). */
export const isCallLimit = (error: unknown): error is Error => error instanceof DomainError && error.code === 'UPSTREAM_CALL_LIMIT';

/**
 * Runs one lookup call for a group of ids: the leads it found, or, when the request's calls ran out,
 * each id unresolved with that error. Any other failure fails the batch, as before.
 */
export async function lookUpOrUnresolved(
  ids: readonly string[],
  call: () => Promise<readonly Lead[]>,
): Promise<readonly (Lead | UnresolvedLead)[]> {
  try {
    return await call();
  } catch (error) {
    if (!isCallLimit(error)) throw error;
    return ids.map((kommoId) => ({ kommoId, unresolved: error }));
  }
}

/** A filter the adapter cannot apply, and why (shown to the client). */
export interface FilterRefusal {
  readonly refuse: string;
}

/**
 * How one filter reaches the upstream: the query parameters it adds (given the whole query, for
 * filters that combine), or a refusal. `{}` means the filter is applied locally only.
 */
export type FilterRule<K extends keyof LeadQuery> =
  | FilterRefusal
  | { readonly send: (value: NonNullable<LeadQuery[K]>, query: LeadQuery) => Readonly<Record<string, string>> | FilterRefusal };

/** Every filter of `LeadQuery`, each with its rule: a filter added to `LeadQuery` and missing here does not compile. */
export type FilterTable = { readonly [K in keyof LeadQuery]-?: FilterRule<K> };

/** Merges a later fragment of the same lead into the lead so far: tags are unioned by id. */
export function mergeLeadFragments(first: Lead, next: Lead): Lead {
  const missing = next.tags.filter((tag) => !first.tags.some((known) => known.kommoId === tag.kommoId));
  return missing.length === 0 ? first : { ...first, tags: [...first.tags, ...missing] };
}

/** Local re-check of a query: some upstream endpoints silently ignore filters they do not support. */
export function matchesQuery(lead: Lead, query: LeadQuery): boolean {
  if (query.statusId !== undefined && lead.statusId !== query.statusId) return false;
  if (query.pipelineId !== undefined && lead.pipelineId !== query.pipelineId) return false;
  if (query.responsibleUserId !== undefined && lead.responsibleUserId !== query.responsibleUserId) return false;
  if (query.groupId !== undefined && lead.groupId !== query.groupId) return false;
  if (query.lossReasonId !== undefined && lead.lossReason?.kommoId !== query.lossReasonId) return false;
  if (query.tagId !== undefined && !lead.tags.some((tag) => tag.kommoId === query.tagId)) return false;
  if (query.tagName !== undefined) {
    const wanted = query.tagName.toLowerCase();
    if (!lead.tags.some((tag) => tag.name.toLowerCase() === wanted)) return false;
  }
  if (!inRange(lead.createdAt, query.createdFrom, query.createdTo)) return false;
  if (!inRange(lead.updatedAt, query.updatedFrom, query.updatedTo)) return false;
  return true;
}

function inRange(value: Date, from: Date | undefined, to: Date | undefined): boolean {
  const time = value.getTime();
  return (from === undefined || time >= from.getTime()) && (to === undefined || time <= to.getTime());
}
