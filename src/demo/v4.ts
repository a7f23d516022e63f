/**
 * The demo account as the V4 warehouse serves it: tag-exploded lead rows, one row per (pipeline,
 * status), user rows, ids as strings, ISO-8601 times, JSON copies of Kommo's arrays as strings, and
 * columns the gateway ignores. Then one V4 request answered over those rows: single-valued filters,
 * silent page/limit clamping, either envelope.
 */
import type { DemoAccount, DemoLead } from './data.js';

export type V4Row = Record<string, string | number | boolean | null>;
export type V4Endpoint = 'leads' | 'pipelines' | 'users';
export type Envelope = 'meta' | 'pagination';

/** The rows the warehouse holds for one account and workspace. */
export interface V4Tables {
  readonly accountId: string;
  readonly leadRows: readonly V4Row[];
  readonly pipelineRows: readonly V4Row[];
  readonly userRows: readonly V4Row[];
  /** A responsible user id that no user row has. */
  readonly danglingUserId: string;
}

const INSERTED_AT = '2026-11-01T03:00:00.000Z';
const iso = (date: Date | null): string | null => (date ? date.toISOString() : null);

function leadRows(lead: DemoLead, base: V4Row): V4Row[] {
  const [first] = lead.tags;
  const row: V4Row = {
    lead_id: String(lead.id),
    lead_name: lead.name,
    status_id: String(lead.statusId),
    price: lead.price,
    responsible_user_id: String(lead.responsibleUserId),
    group_id: String(lead.groupId),
    pipeline_id: String(lead.pipelineId),
    loss_reason_id: lead.lossReason ? String(lead.lossReason.id) : null,
    created_by: String(lead.createdBy),
    updated_by: String(lead.updatedBy),
    created_at: iso(lead.createdAt),
    updated_at: iso(lead.updatedAt),
    closed_at: iso(lead.closedAt),
    closest_task_at: iso(lead.closestTaskAt),
    is_deleted: lead.isDeleted,
    custom_fields_values: JSON.stringify(
      lead.customFields.map((field) => ({
        field_id: field.fieldId,
        field_name: field.name,
        field_code: field.code,
        field_type: field.type,
        values: field.values.map((entry) =>
          entry.enum ? { value: entry.value, enum_id: entry.enum.id, enum: entry.enum.code } : { value: entry.value },
        ),
      })),
    ),
    score: lead.score === null ? null : String(lead.score),
    labor_cost: lead.laborCost,
    source_id: lead.source ? String(lead.source.id) : null,
    source_name: lead.source ? lead.source.name : null,
    tags: lead.tags.length > 0 ? JSON.stringify(lead.tags) : '',
    contacts_ids: JSON.stringify(lead.contactIds),
    loss_reason: lead.lossReason ? lead.lossReason.name : null,
    tag_id_first: first ? String(first.id) : null,
    tag_name_first: first ? first.name : null,
    tag_color_first: first ? first.color : null,
    ...base,
    document_id: `lead-${lead.id}`,
    inserted_at: INSERTED_AT,
    ...lead.v4Text,
  };
  // One row per tag, adjacent; a lead without tags is one row with null tag columns.
  if (lead.tags.length === 0) return [{ ...row, tag_id: null, tag_name: null, tag_color: null }];
  return lead.tags.map((tag) => ({ ...row, tag_id: String(tag.id), tag_name: tag.name, tag_color: tag.color }));
}

/** The columns every row of an account's workspace carries. */
const workspaceColumns = (accountId: number, workspaceId: string | null): V4Row => ({
  account_id: String(accountId),
  integration_id: 'demo-integration',
  organization_id: 'demo-organization',
  workspace_id: workspaceId,
});

/** One lead's rows in an account's workspace (one per tag, adjacent), as `v4Tables` renders them. */
export function v4LeadRows(lead: DemoLead, accountId: number, workspaceId: string | null): V4Row[] {
  return leadRows(lead, workspaceColumns(accountId, workspaceId));
}

export function v4Tables(account: DemoAccount, workspaceId: string | null): V4Tables {
  const base = workspaceColumns(account.accountId, workspaceId);
  return {
    accountId: String(account.accountId),
    leadRows: account.leads.flatMap((lead) => leadRows(lead, base)),
    pipelineRows: account.pipelines.flatMap((pipeline) =>
      pipeline.statuses.map((status) => ({
        pipeline_id: String(pipeline.id),
        pipeline_name: pipeline.name,
        pipeline_sort: pipeline.sort,
        is_main: pipeline.isMain,
        is_archive: pipeline.isArchive,
        status_id: String(status.id),
        status_name: status.name,
        status_sort: status.sort,
        status_color: status.color,
        status_type: status.type,
        is_editable: status.isEditable,
        ...base,
        inserted_at: INSERTED_AT,
      })),
    ),
    userRows: account.users.map((user) => ({
      user_id: String(user.id),
      user_name: user.name,
      email: user.email,
      role_id: String(user.role.id),
      role_name: user.role.name,
      group_id: String(user.group.id),
      group_name: user.group.name,
      is_admin: user.isAdmin,
      is_active: user.isActive,
      ...base,
      inserted_at: INSERTED_AT,
      unknown_future_column: 'ignored',
    })),
    danglingUserId: String(account.danglingUserId),
  };
}

const DEFAULT_LIMIT = 500;

const FILTERS: Readonly<Record<V4Endpoint, Readonly<Record<string, string>>>> = {
  leads: {
    leadId: 'lead_id',
    statusId: 'status_id',
    pipelineId: 'pipeline_id',
    responsibleUserId: 'responsible_user_id',
    groupId: 'group_id',
    lossReasonId: 'loss_reason_id',
    tagId: 'tag_id',
    tagName: 'tag_name',
    tagColor: 'tag_color',
    tagIdFirst: 'tag_id_first',
    tagNameFirst: 'tag_name_first',
    tagColorFirst: 'tag_color_first',
  },
  pipelines: { pipelineId: 'pipeline_id', pipelineName: 'pipeline_name', statusId: 'status_id', statusName: 'status_name' },
  users: { userId: 'user_id' },
};

/** `limit` and `page` are clamped silently, as the real API does: limit 1..5000, page >= 1. */
function clampInt(raw: string | undefined, fallback: number, min: number, max: number): number {
  const value = raw === undefined || raw === '' ? Number.NaN : Math.trunc(Number(raw));
  return Number.isFinite(value) ? Math.min(max, Math.max(min, value)) : fallback;
}

function inTimeRange(value: unknown, start: string | undefined, end: string | undefined): boolean {
  if (start === undefined && end === undefined) return true;
  const time = typeof value === 'string' ? Date.parse(value) : Number.NaN;
  if (Number.isNaN(time)) return false;
  return (start === undefined || time >= Date.parse(start)) && (end === undefined || time <= Date.parse(end));
}

export interface V4Answer {
  /** The matching rows of the requested page. */
  readonly rows: readonly V4Row[];
  /** The envelope's paging object (`meta` or `pagination`), without `data`. */
  readonly paging: Readonly<Record<string, unknown>>;
}

/** One authorized V4 request: the page of rows and its paging envelope. */
export function answerV4(
  tables: V4Tables,
  endpoint: V4Endpoint,
  query: Readonly<Record<string, string>>,
  options: { readonly envelope: Envelope; readonly maxLimit: number },
): V4Answer {
  const table = endpoint === 'leads' ? tables.leadRows : endpoint === 'pipelines' ? tables.pipelineRows : tables.userRows;
  // Only the filters actually given: an unfiltered page is a slice, as it would be for a real server.
  const active = Object.entries(FILTERS[endpoint]).filter(([param]) => query[param] !== undefined);
  const timed =
    endpoint === 'leads' &&
    [query.createdStart, query.createdEnd, query.lastModifiedStart, query.lastModifiedEnd].some((value) => value !== undefined);
  let rows = table;
  if (active.length > 0) rows = rows.filter((row) => active.every(([param, column]) => String(row[column]) === query[param]));
  if (timed) {
    rows = rows.filter(
      (row) =>
        inTimeRange(row.created_at, query.createdStart, query.createdEnd) &&
        inTimeRange(row.updated_at, query.lastModifiedStart, query.lastModifiedEnd),
    );
  }
  const limit = clampInt(query.limit, Math.min(DEFAULT_LIMIT, options.maxLimit), 1, options.maxLimit);
  const page = clampInt(query.page, 1, 1, Number.MAX_SAFE_INTEGER);
  const hasNextPage = page * limit < rows.length;
  const hasPreviousPage = page > 1;
  const paging =
    options.envelope === 'meta'
      ? { meta: { page, limit, hasNextPage, hasPreviousPage } }
      : {
          pagination: {
            currentPage: page,
            totalPages: Math.max(1, Math.ceil(rows.length / limit)),
            totalRecords: rows.length,
            limit,
            hasNextPage,
            hasPreviousPage,
          },
        };
  return { rows: rows.slice((page - 1) * limit, page * limit), paging };
}
