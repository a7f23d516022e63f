/**
 * What a correct lead index answers, computed straight from the test upstream's data, independently of
 * the gateway's code: V4 rows merged by lead (adjacent rows, tags unioned), Kommo leads from the account,
 * sorted and filtered as issue 13 specifies. Also the GraphQL walkers the index tests share.
 */
import { expect } from 'vitest';
import type { DemoLead } from '../../src/demo/data.js';
import type { V4Row } from '../../src/demo/v4.js';
import type { Harness } from './harness.js';
import { until } from './until.js';

export interface ExpectedLead {
  readonly kommoId: string;
  readonly name: string;
  readonly price: number;
  readonly createdAt: number;
  readonly updatedAt: number;
  readonly closedAt: number | null;
  readonly isDeleted: boolean;
  readonly pipelineId: string;
  readonly statusId: string;
  readonly responsibleUserId: string;
  readonly groupId: string;
  readonly lossReasonId: string | null;
  readonly tags: readonly { readonly id: string; readonly name: string }[];
}

export const ORDER_FIELDS = ['ID', 'CREATED_AT', 'UPDATED_AT', 'CLOSED_AT', 'PRICE', 'NAME'] as const;
export type OrderField = (typeof ORDER_FIELDS)[number];
export type Direction = 'ASC' | 'DESC';

const parse = (value: unknown): number | null => {
  const time = typeof value === 'string' ? Date.parse(value) : Number.NaN;
  return Number.isNaN(time) ? null : time;
};

/** The V4 rows as leads: adjacent rows of one lead merged, tags from every row's `tag_id`/`tag_name`. */
export function leadsFromRows(rows: readonly V4Row[]): ExpectedLead[] {
  const leads: { lead: ExpectedLead; tags: Map<string, string> }[] = [];
  for (const row of rows) {
    const last = leads.at(-1);
    const id = String(row.lead_id);
    const entry =
      last && last.lead.kommoId === id
        ? last
        : (() => {
            const updatedAt = parse(row.updated_at) as number;
            const made = {
              lead: {
                kommoId: id,
                name: typeof row.lead_name === 'string' ? row.lead_name : '',
                price: typeof row.price === 'number' ? row.price : 0,
                createdAt: parse(row.created_at) ?? updatedAt,
                updatedAt,
                closedAt: parse(row.closed_at),
                isDeleted: row.is_deleted === true,
                pipelineId: String(row.pipeline_id),
                statusId: String(row.status_id),
                responsibleUserId: String(row.responsible_user_id),
                groupId: String(row.group_id),
                lossReasonId: row.loss_reason_id === null ? null : String(row.loss_reason_id),
                tags: [],
              },
              tags: new Map<string, string>(),
            };
            leads.push(made);
            return made;
          })();
    if (row.tag_id !== null && typeof row.tag_name === 'string') entry.tags.set(String(row.tag_id), row.tag_name);
  }
  return leads.map(({ lead, tags }) => ({ ...lead, tags: [...tags].map(([tagId, name]) => ({ id: tagId, name })) }));
}

/** A Kommo account's lead as the index should hold it. */
export function leadFromAccount(lead: DemoLead): ExpectedLead {
  return {
    kommoId: String(lead.id),
    name: lead.name ?? '',
    price: lead.price ?? 0,
    createdAt: (lead.createdAt ?? lead.updatedAt).getTime(),
    updatedAt: lead.updatedAt.getTime(),
    closedAt: lead.closedAt?.getTime() ?? null,
    isDeleted: lead.isDeleted,
    pipelineId: String(lead.pipelineId),
    statusId: String(lead.statusId),
    responsibleUserId: String(lead.responsibleUserId),
    groupId: String(lead.groupId),
    lossReasonId: lead.lossReason ? String(lead.lossReason.id) : null,
    tags: lead.tags.map((tag) => ({ id: String(tag.id), name: tag.name })),
  };
}

const keyOf = (lead: ExpectedLead, field: OrderField): number | string | null => {
  switch (field) {
    case 'ID':
      return Number(lead.kommoId);
    case 'CREATED_AT':
      return lead.createdAt;
    case 'UPDATED_AT':
      return lead.updatedAt;
    case 'CLOSED_AT':
      return lead.closedAt;
    case 'PRICE':
      return lead.price;
    case 'NAME':
      return lead.name.toLowerCase();
  }
};

/** Null after every value ascending (first descending), ties by kommoId numerically in the same direction. */
export function sortLeads(leads: readonly ExpectedLead[], field: OrderField, direction: Direction): ExpectedLead[] {
  const ascending = (a: ExpectedLead, b: ExpectedLead): number => {
    const ka = keyOf(a, field);
    const kb = keyOf(b, field);
    if (ka !== kb) {
      if (ka === null) return 1;
      if (kb === null) return -1;
      return ka < kb ? -1 : 1;
    }
    return Number(a.kommoId) - Number(b.kommoId);
  };
  const sorted = [...leads].sort(ascending);
  return direction === 'ASC' ? sorted : sorted.reverse();
}

export interface FilterInput {
  readonly statusId?: string;
  readonly pipelineId?: string;
  readonly responsibleUserId?: string;
  readonly groupId?: string;
  readonly lossReasonId?: string;
  readonly tagId?: string;
  readonly tagName?: string;
  readonly createdAt?: { readonly from?: string; readonly to?: string };
  readonly updatedAt?: { readonly from?: string; readonly to?: string };
  readonly closedAt?: { readonly from?: string; readonly to?: string };
  readonly price?: { readonly min?: number; readonly max?: number };
  readonly search?: string;
  readonly includeDeleted?: boolean;
}

const inRange = (value: number | null, range: { from?: string; to?: string } | undefined): boolean => {
  if (!range) return true;
  if (value === null) return false;
  return (range.from === undefined || value >= Date.parse(range.from)) && (range.to === undefined || value <= Date.parse(range.to));
};

/** The filter's lead-level meaning (issue 13), written from the schema's descriptions. */
export function matches(lead: ExpectedLead, filter: FilterInput): boolean {
  if (!filter.includeDeleted && lead.isDeleted) return false;
  if (filter.statusId !== undefined && lead.statusId !== filter.statusId) return false;
  if (filter.pipelineId !== undefined && lead.pipelineId !== filter.pipelineId) return false;
  if (filter.responsibleUserId !== undefined && lead.responsibleUserId !== filter.responsibleUserId) return false;
  if (filter.groupId !== undefined && lead.groupId !== filter.groupId) return false;
  if (filter.lossReasonId !== undefined && lead.lossReasonId !== filter.lossReasonId) return false;
  if (filter.tagId !== undefined && !lead.tags.some((tag) => tag.id === filter.tagId)) return false;
  const tagName = filter.tagName?.toLowerCase();
  if (tagName !== undefined && !lead.tags.some((tag) => tag.name.toLowerCase() === tagName)) return false;
  if (!inRange(lead.createdAt, filter.createdAt) || !inRange(lead.updatedAt, filter.updatedAt)) return false;
  if (!inRange(lead.closedAt, filter.closedAt)) return false;
  if (filter.price?.min !== undefined && lead.price < filter.price.min) return false;
  if (filter.price?.max !== undefined && lead.price > filter.price.max) return false;
  if (filter.search !== undefined && !lead.name.toLowerCase().includes(filter.search.toLowerCase())) return false;
  return true;
}

export interface GraphQLBody {
  readonly data?: Record<string, unknown> | null;
  readonly errors?: readonly {
    readonly message: string;
    readonly path?: readonly (string | number)[];
    readonly extensions?: { readonly code?: string; readonly retryAfter?: number; readonly argument?: string };
  }[];
}

/** The answer's data, asserting it came without errors. */
export function dataOf<T>(body: GraphQLBody): T {
  expect(body.errors, JSON.stringify(body.errors)).toBeUndefined();
  return body.data as T;
}

export async function ask(harness: Harness, query: string, variables?: Record<string, unknown>, headers?: Record<string, string>) {
  const response = await harness.post({ query, variables }, headers);
  return { status: response.status, body: (await response.json()) as GraphQLBody };
}

export interface Connection {
  readonly totalCount: number | null;
  readonly dataAsOf: string | null;
  readonly pageInfo: { hasNextPage: boolean; hasPreviousPage: boolean; startCursor: string | null; endCursor: string | null };
  readonly edges: readonly { readonly cursor: string; readonly node: { readonly kommoId: string } }[];
}

export const LEADS_PAGE = `query Page($first: Int, $after: String, $last: Int, $before: String, $filter: LeadFilter, $orderBy: LeadOrder) {
  leads(first: $first, after: $after, last: $last, before: $before, filter: $filter, orderBy: $orderBy) {
    totalCount dataAsOf
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    edges { cursor node { kommoId } }
  }
}`;

export interface WalkArgs {
  readonly filter?: FilterInput;
  readonly orderBy?: { readonly field: OrderField; readonly direction: Direction } | null;
  readonly size: number;
  /** Called before each page after the first (to move the upstream between pages), with the ids seen so far. */
  readonly between?: (page: number, seen: readonly string[]) => Promise<void>;
  readonly headers?: Record<string, string>;
  /** @default 200 */
  readonly maxPages?: number;
}

/** Every page of a connection, forward (first/after) or backward (last/before); the ids in the connection's order, and each page's totalCount. */
export async function walk(
  harness: Harness,
  way: 'forward' | 'backward',
  args: WalkArgs,
): Promise<{ ids: string[]; totals: (number | null)[]; pages: number }> {
  const chunks: string[][] = [];
  const totals: (number | null)[] = [];
  let cursor: string | null = null;
  const maxPages = args.maxPages ?? 200;
  for (let page = 0; page < maxPages; page += 1) {
    if (page > 0) await args.between?.(page, chunks.flat());
    const variables =
      way === 'forward'
        ? { first: args.size, after: cursor, filter: args.filter, orderBy: args.orderBy }
        : { last: args.size, before: cursor, filter: args.filter, orderBy: args.orderBy };
    const { body } = await ask(harness, LEADS_PAGE, variables, args.headers);
    expect(body.errors, JSON.stringify(body.errors)).toBeUndefined();
    const connection = (body.data as { leads: Connection }).leads;
    totals.push(connection.totalCount);
    const ids = connection.edges.map((edge) => edge.node.kommoId);
    if (way === 'forward') chunks.push(ids);
    else chunks.unshift(ids);
    const more = way === 'forward' ? connection.pageInfo.hasNextPage : connection.pageInfo.hasPreviousPage;
    if (!more) return { ids: chunks.flat(), totals, pages: page + 1 };
    expect(ids.length).toBe(args.size);
    cursor = way === 'forward' ? connection.pageInfo.endCursor : connection.pageInfo.startCursor;
  }
  throw new Error(`the walk did not end within ${maxPages} pages`);
}

/**
 * Starts the tenant's index (single-tenant mode starts it with the first request: `{ __typename }` makes
 * no upstream call) and waits for it to serve.
 */
export async function indexReady(harness: Harness, headers?: Record<string, string>, timeoutMs = 15_000): Promise<void> {
  await ask(harness, '{ __typename }', undefined, headers);
  await until(() => harness.gateway.indexes.status().tenants.ready > 0, timeoutMs, 'the lead index is ready');
}

/** A check for `until` that asks the gateway at most every `ms` (a GraphQL request per 20 ms poll would load the suite). */
export const paced =
  (check: () => Promise<boolean>, ms = 100): (() => Promise<boolean>) =>
  async () => {
    await new Promise((resolve) => setTimeout(resolve, ms));
    return check();
  };

export const idsOf = (leads: readonly ExpectedLead[]): string[] => leads.map((lead) => lead.kommoId);
