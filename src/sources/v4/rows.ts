/**
 * V4 row mapping: the one module that knows the shape of V4 rows and envelopes. Much of that shape
 * is assumed (see the upstream contract), so every reader here is tolerant: a bad value becomes
 * null or a documented fallback, and never fails the page.
 */
import { UpstreamError } from '../../errors.js';
import type { CustomFieldEntry, CustomFieldValue, IdName, Lead, LeadFragment, Pipeline, Status, Tag, User } from '../adapter.js';
import { idName, isRecord, toId, toInt, toNumber } from '../values.js';

type Row = Readonly<Record<string, unknown>>;

export interface V4Page {
  readonly rows: readonly Row[];
  readonly hasNextPage: boolean | null;
  /** Total rows, only in the `pagination` envelope. */
  readonly totalRows: number | null;
  /** The limit the upstream says it applied, when it says. */
  readonly limit: number | null;
}

/** Reads either envelope: `{data, meta}` (leads docs) or `{data, pagination}` (generic docs). */
export function parseEnvelope(body: unknown, endpoint: string): V4Page {
  if (!isRecord(body) || !Array.isArray(body.data)) {
    throw new UpstreamError('UPSTREAM_BAD_RESPONSE', `V4 API GET ${endpoint} answered without a "data" list`, { endpoint });
  }
  const rows = body.data.filter(isRecord);
  const paging = isRecord(body.meta) ? body.meta : isRecord(body.pagination) ? body.pagination : null;
  return {
    rows,
    hasNextPage: paging ? toBool(paging.hasNextPage) : null,
    totalRows: paging ? toInt(paging.totalRecords) : null,
    limit: paging ? toInt(paging.limit) : null,
  };
}

/** A row as a fragment whose lead is parsed on first use (a page reads ~10% of a 500-row block). */
class RowFragment implements LeadFragment {
  #lead: Lead | undefined;
  constructor(
    readonly kommoId: string,
    readonly position: number,
    private readonly row: Row,
  ) {}

  get lead(): Lead {
    this.#lead ??= parseLeadRow(this.row) as Lead;
    return this.#lead;
  }
}

/** A lead row as a lazily parsed fragment; null when the row has no usable `lead_id` (it is skipped). */
export function leadFragment(row: Row, position: number): LeadFragment | null {
  const kommoId = toId(row.lead_id);
  return kommoId ? new RowFragment(kommoId, position, row) : null;
}

/** One lead row; null only when the row has no usable `lead_id`. */
export function parseLeadRow(row: Row): Lead | null {
  const kommoId = toId(row.lead_id);
  if (!kommoId) return null;
  const updatedAt = toDate(row.updated_at);
  const createdAt = toDate(row.created_at) ?? updatedAt ?? toDate(row.inserted_at) ?? new Date(0);
  return {
    kommoId,
    name: toText(row.lead_name) ?? '',
    price: toNumber(row.price) ?? 0,
    pipelineId: toId(row.pipeline_id),
    statusId: toId(row.status_id),
    responsibleUserId: toUserId(row.responsible_user_id),
    createdById: toUserId(row.created_by),
    updatedById: toUserId(row.updated_by),
    groupId: toId(row.group_id, true),
    lossReason: parseLossReason(row.loss_reason_id, row.loss_reason),
    tags: parseTags(row),
    contactIds: parseIdList(row.contacts_ids),
    customFields: parseCustomFields(row.custom_fields_values),
    score: toInt(row.score),
    laborCostSeconds: toInt(row.labor_cost),
    source: idName(toId(row.source_id), toText(row.source_name)),
    createdAt,
    updatedAt: updatedAt ?? createdAt,
    closedAt: toDate(row.closed_at),
    closestTaskAt: toDate(row.closest_task_at),
    isDeleted: toBool(row.is_deleted) ?? false,
  };
}

/** Pipeline rows are one per (pipeline, status): grouped back into pipelines, in first-seen order. */
export function groupPipelineRows(rows: readonly Row[]): Pipeline[] {
  const pipelines = new Map<string, { pipeline: Omit<Pipeline, 'statuses'>; statuses: Map<string, Status> }>();
  for (const row of rows) {
    const pipelineId = toId(row.pipeline_id);
    if (!pipelineId) continue;
    let entry = pipelines.get(pipelineId);
    if (!entry) {
      entry = {
        pipeline: {
          kommoId: pipelineId,
          name: toText(row.pipeline_name) ?? '',
          sort: toInt(row.pipeline_sort),
          isMain: toBool(row.is_main) ?? false,
          isArchived: toBool(row.is_archive) ?? false,
        },
        statuses: new Map(),
      };
      pipelines.set(pipelineId, entry);
    }
    const statusId = toId(row.status_id);
    if (statusId && !entry.statuses.has(statusId)) {
      entry.statuses.set(statusId, {
        kommoId: statusId,
        pipelineId,
        name: toText(row.status_name) ?? '',
        color: toText(row.status_color),
        sort: toInt(row.status_sort),
        type: toInt(row.status_type),
        isEditable: toBool(row.is_editable),
      });
    }
  }
  return [...pipelines.values()].map(({ pipeline, statuses }) => ({
    ...pipeline,
    statuses: [...statuses.values()].sort((a, b) => (a.sort ?? 0) - (b.sort ?? 0)),
  }));
}

export function parseUserRow(row: Row): User | null {
  const kommoId = toUserId(row.user_id);
  if (!kommoId) return null;
  return {
    kommoId,
    name: toText(row.user_name) ?? '',
    email: toText(row.email),
    isAdmin: toBool(row.is_admin),
    isActive: toBool(row.is_active),
    role: idName(toId(row.role_id, true), toText(row.role_name)),
    group: idName(toId(row.group_id, true), toText(row.group_name)),
  };
}

// --- field readers -------------------------------------------------------------------------

function toText(value: unknown): string | null {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return null;
}

/** `"0"` is the system or a robot, not a user. */
function toUserId(value: unknown): string | null {
  return toId(value);
}

function toBool(value: unknown): boolean | null {
  if (typeof value === 'boolean') return value;
  if (value === 1 || value === '1' || value === 'true' || value === 't') return true;
  if (value === 0 || value === '0' || value === 'false' || value === 'f') return false;
  return null;
}

/** ISO-8601 strings (and, tolerantly, Unix seconds) to Date; anything else is null. */
function toDate(value: unknown): Date | null {
  if (typeof value === 'number' && Number.isFinite(value)) return new Date(value * 1000);
  if (typeof value !== 'string' || value.trim() === '') return null;
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? null : date;
}

/** A JSON-string field: parsed JSON, or null when it is not JSON (callers then fall back). */
function parseJsonString(value: unknown): unknown {
  if (typeof value !== 'string') return value ?? null;
  const text = value.trim();
  if (text === '') return null;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/** The contract's fallback for a non-JSON list: strip `{}`/`[]`, split on commas. */
function splitList(value: unknown): string[] {
  if (typeof value !== 'string') return [];
  return value
    .replace(/^[\s{[]+|[\s}\]]+$/g, '')
    .split(',')
    .map((part) => part.trim().replace(/^"|"$/g, ''))
    .filter((part) => part !== '');
}

function parseIdList(value: unknown): string[] {
  const parsed = parseJsonString(value);
  const items = Array.isArray(parsed) ? parsed : parsed === undefined ? splitList(value) : [];
  const ids = items.map((item) => (isRecord(item) ? toId(item.id) : toId(item))).filter((id): id is string => id !== null);
  return [...new Set(ids)];
}

function parseTags(row: Row): Tag[] {
  const tags = new Map<string, Tag>();
  const add = (id: unknown, name: unknown, color: unknown): void => {
    const kommoId = toId(id);
    const text = toText(name);
    if (kommoId && text !== null && !tags.has(kommoId)) tags.set(kommoId, { kommoId, name: text, color: toText(color) });
  };
  const parsed = parseJsonString(row.tags);
  if (Array.isArray(parsed)) {
    for (const item of parsed) if (isRecord(item)) add(item.id, item.name, item.color);
  }
  // The exploded row's own tag, and the first tag: both carry ids, which a non-JSON `tags` does not.
  add(row.tag_id, row.tag_name, row.tag_color);
  add(row.tag_id_first, row.tag_name_first, row.tag_color_first);
  return [...tags.values()];
}

function parseCustomFields(value: unknown): CustomFieldValue[] {
  const parsed = parseJsonString(value);
  if (!Array.isArray(parsed)) return [];
  const fields: CustomFieldValue[] = [];
  for (const item of parsed) {
    if (!isRecord(item)) continue;
    const fieldId = toId(item.field_id);
    if (!fieldId) continue;
    const values: CustomFieldEntry[] = Array.isArray(item.values)
      ? item.values.map((entry) =>
          isRecord(entry)
            ? { value: toText(entry.value), enumId: toId(entry.enum_id), enumCode: toText(entry.enum_code ?? entry.enum) }
            : { value: toText(entry), enumId: null, enumCode: null },
        )
      : [];
    fields.push({
      fieldId,
      name: toText(item.field_name),
      code: toText(item.field_code),
      type: toText(item.field_type),
      values,
    });
  }
  return fields;
}

/** `loss_reason` may be a name, or a JSON copy of Kommo's `[{id, name}]` / `{id, name}`. */
function parseLossReason(idValue: unknown, value: unknown): IdName | null {
  let kommoId = toId(idValue);
  let name: string | null = null;
  const parsed = parseJsonString(value);
  const record = Array.isArray(parsed) ? parsed.find(isRecord) : isRecord(parsed) ? parsed : null;
  if (record) {
    kommoId = kommoId ?? toId(record.id);
    name = toText(record.name);
  } else if (typeof value === 'string' && value.trim() !== '') {
    name = value;
  }
  return idName(kommoId, name);
}
