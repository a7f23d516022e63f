/**
 * Kommo API v4 record mapping: the one module that knows Kommo's HAL envelopes and native objects
 * (integer ids, Unix-second times, `_embedded` tags, contacts and loss reason). Tolerant like the V4
 * mapping: a bad value becomes null, never a failed page.
 */
import { UpstreamError } from '../../errors.js';
import type { CustomFieldEntry, CustomFieldValue, Lead, Pipeline, Status, Tag, User } from '../adapter.js';
import { idName, isRecord, toId, toInt } from '../values.js';

type Record_ = Readonly<Record<string, unknown>>;

export interface KommoList {
  readonly items: readonly Record_[];
  /** `_links.next` is present: another page follows. */
  readonly hasNext: boolean;
}

const records = (value: unknown): Record_[] => (Array.isArray(value) ? value.filter(isRecord) : []);

/** A HAL list (`_embedded[key]`, `_links.next`); `null` is a 204 No Content, an empty list. */
export function parseList(body: unknown, key: string, endpoint: string): KommoList {
  if (body === null) return { items: [], hasNext: false };
  if (!isRecord(body) || !isRecord(body._embedded)) {
    throw new UpstreamError('UPSTREAM_BAD_RESPONSE', `Kommo API GET ${endpoint} answered without "_embedded.${key}"`, { endpoint });
  }
  const links = isRecord(body._links) ? body._links : {};
  return { items: records(body._embedded[key]), hasNext: isRecord(links.next) };
}

const toText = (value: unknown): string | null => (typeof value === 'string' ? value : typeof value === 'number' ? String(value) : null);
const toBool = (value: unknown): boolean | null => (typeof value === 'boolean' ? value : null);
/** Kommo times are Unix seconds. */
const toDate = (value: unknown): Date | null => {
  const seconds = toInt(value);
  return seconds === null || seconds <= 0 ? null : new Date(seconds * 1000);
};

function parseCustomFields(value: unknown): CustomFieldValue[] {
  return records(value).flatMap((field) => {
    const fieldId = toId(field.field_id);
    if (!fieldId) return [];
    const values: CustomFieldEntry[] = records(field.values).map((entry) => ({
      value: toText(entry.value),
      enumId: toId(entry.enum_id),
      enumCode: toText(entry.enum_code ?? entry.enum),
    }));
    return [{ fieldId, name: toText(field.field_name), code: toText(field.field_code), type: toText(field.field_type), values }];
  });
}

/** One lead; null when it has no usable id. */
export function parseLead(lead: Record_): Lead | null {
  const kommoId = toId(lead.id);
  if (!kommoId) return null;
  const embedded = isRecord(lead._embedded) ? lead._embedded : {};
  const tags: Tag[] = records(embedded.tags).flatMap((tag) => {
    const id = toId(tag.id);
    const name = toText(tag.name);
    return id && name !== null ? [{ kommoId: id, name, color: toText(tag.color) }] : [];
  });
  // `_embedded.loss_reason` is an array of one (with=loss_reason).
  const lossReason = records(embedded.loss_reason)[0];
  const updatedAt = toDate(lead.updated_at);
  const createdAt = toDate(lead.created_at) ?? updatedAt ?? new Date(0);
  return {
    kommoId,
    name: toText(lead.name) ?? '',
    price: typeof lead.price === 'number' && Number.isFinite(lead.price) ? lead.price : 0,
    pipelineId: toId(lead.pipeline_id),
    statusId: toId(lead.status_id),
    responsibleUserId: toId(lead.responsible_user_id),
    createdById: toId(lead.created_by),
    updatedById: toId(lead.updated_by),
    groupId: toId(lead.group_id, true),
    lossReason: idName(toId(lead.loss_reason_id) ?? toId(lossReason?.id), toText(lossReason?.name)),
    tags,
    contactIds: records(embedded.contacts).flatMap((contact) => toId(contact.id) ?? []),
    customFields: parseCustomFields(lead.custom_fields_values),
    score: toInt(lead.score),
    laborCostSeconds: toInt(lead.labor_cost),
    source: idName(toId(lead.source_id), null),
    createdAt,
    updatedAt: updatedAt ?? createdAt,
    closedAt: toDate(lead.closed_at),
    closestTaskAt: toDate(lead.closest_task_at),
    isDeleted: toBool(lead.is_deleted) ?? false,
  };
}

/** Pipelines with their statuses (`_embedded.statuses`), from the one pipelines call. */
export function parsePipelines(body: unknown, endpoint: string): Pipeline[] {
  return parseList(body, 'pipelines', endpoint).items.flatMap((pipeline) => {
    const kommoId = toId(pipeline.id);
    if (!kommoId) return [];
    const embedded = isRecord(pipeline._embedded) ? pipeline._embedded : {};
    const statuses: Status[] = records(embedded.statuses).flatMap((status) => {
      const id = toId(status.id);
      return id
        ? [
            {
              kommoId: id,
              pipelineId: kommoId,
              name: toText(status.name) ?? '',
              color: toText(status.color),
              sort: toInt(status.sort),
              type: toInt(status.type),
              isEditable: toBool(status.is_editable),
            },
          ]
        : [];
    });
    statuses.sort((a, b) => (a.sort ?? 0) - (b.sort ?? 0));
    return [
      {
        kommoId,
        name: toText(pipeline.name) ?? '',
        sort: toInt(pipeline.sort),
        isMain: toBool(pipeline.is_main) ?? false,
        isArchived: toBool(pipeline.is_archive) ?? false,
        statuses,
      },
    ];
  });
}

/** A user (`with=role,group`: `_embedded.roles`, `_embedded.groups`; rights in `rights`). */
export function parseUser(user: Record_): User | null {
  const kommoId = toId(user.id);
  if (!kommoId) return null;
  const rights = isRecord(user.rights) ? user.rights : {};
  const embedded = isRecord(user._embedded) ? user._embedded : {};
  const role = records(embedded.roles)[0];
  const group = records(embedded.groups)[0];
  return {
    kommoId,
    name: toText(user.name) ?? '',
    email: toText(user.email),
    isAdmin: toBool(rights.is_admin),
    isActive: toBool(rights.is_active),
    role: idName(toId(role?.id ?? rights.role_id, true), toText(role?.name)),
    group: idName(toId(group?.id ?? rights.group_id, true), toText(group?.name)),
  };
}
