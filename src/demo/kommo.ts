/**
 * The demo upstream's Kommo API v4: the same accounts and leads as its V4 rows, served the way the
 * Kommo API serves them (bearer token, HAL envelopes, `_links.next`, 204 for an empty page, Unix
 * seconds, `_embedded` tags/contacts/loss reason, problem+json errors). The leads are the V4 rows
 * merged by the gateway's own V4 parser, so both sources describe exactly the same data.
 */
import type { ServerResponse } from 'node:http';
import { type Lead, mergeLeadFragments, type Pipeline, type User } from '../sources/adapter.js';
import { groupPipelineRows, parseLeadRow, parseUserRow } from '../sources/v4/rows.js';
import type { DemoData } from './data.js';

type Json = Record<string, unknown>;

const unix = (date: Date | null): number | null => (date ? Math.floor(date.getTime() / 1000) : null);
const num = (id: string | null): number | null => (id === null ? null : Number(id));

function leadJson(lead: Lead, accountId: number, withs: ReadonlySet<string>): Json {
  const embedded: Json = { tags: lead.tags.map((tag) => ({ id: Number(tag.kommoId), name: tag.name, color: tag.color })), companies: [] };
  if (withs.has('contacts')) embedded.contacts = lead.contactIds.map((id, index) => ({ id: Number(id), is_main: index === 0 }));
  if (withs.has('loss_reason') && lead.lossReason)
    embedded.loss_reason = [{ id: Number(lead.lossReason.kommoId), name: lead.lossReason.name }];
  const json: Json = {
    id: Number(lead.kommoId),
    name: lead.name,
    price: lead.price,
    responsible_user_id: num(lead.responsibleUserId) ?? 0,
    group_id: num(lead.groupId) ?? 0,
    status_id: num(lead.statusId),
    pipeline_id: num(lead.pipelineId),
    loss_reason_id: num(lead.lossReason?.kommoId ?? null),
    created_by: num(lead.createdById) ?? 0,
    updated_by: num(lead.updatedById) ?? 0,
    created_at: unix(lead.createdAt),
    updated_at: unix(lead.updatedAt),
    closed_at: unix(lead.closedAt),
    closest_task_at: unix(lead.closestTaskAt),
    is_deleted: lead.isDeleted,
    custom_fields_values:
      lead.customFields.length === 0
        ? null
        : lead.customFields.map((field) => ({
            field_id: Number(field.fieldId),
            field_name: field.name,
            field_code: field.code,
            field_type: field.type,
            values: field.values.map((entry) => ({ value: entry.value, enum_id: num(entry.enumId), enum_code: entry.enumCode })),
          })),
    score: lead.score,
    account_id: accountId,
    labor_cost: lead.laborCostSeconds,
    _links: { self: { href: `/api/v4/leads/${lead.kommoId}` } },
    _embedded: embedded,
  };
  if (withs.has('source_id')) json.source_id = num(lead.source?.kommoId ?? null);
  return json;
}

function pipelineJson(pipeline: Pipeline, accountId: number): Json {
  return {
    id: Number(pipeline.kommoId),
    name: pipeline.name,
    sort: pipeline.sort,
    is_main: pipeline.isMain,
    is_unsorted_on: true,
    is_archive: pipeline.isArchived,
    account_id: accountId,
    _embedded: {
      statuses: pipeline.statuses.map((status) => ({
        id: Number(status.kommoId),
        name: status.name,
        sort: status.sort,
        is_editable: status.isEditable,
        pipeline_id: Number(pipeline.kommoId),
        color: status.color,
        type: status.type ?? 0,
        account_id: accountId,
      })),
    },
  };
}

function userJson(user: User): Json {
  return {
    id: Number(user.kommoId),
    name: user.name,
    email: user.email,
    lang: 'en',
    rights: {
      is_admin: user.isAdmin,
      is_active: user.isActive,
      role_id: num(user.role?.kommoId ?? null),
      group_id: num(user.group?.kommoId ?? null),
    },
    _embedded: {
      roles: user.role ? [{ id: Number(user.role.kommoId), name: user.role.name }] : [],
      groups: user.group ? [{ id: Number(user.group.kommoId), name: user.group.name }] : [],
    },
  };
}

/** The Kommo view of one demo account: leads as Kommo returns them (no deleted ones), pipelines, users. */
export interface KommoAccount {
  readonly accountId: number;
  readonly leads: readonly Lead[];
  readonly pipelines: readonly Pipeline[];
  readonly users: readonly User[];
}

export function kommoAccount(data: DemoData): KommoAccount {
  const leads: Lead[] = [];
  for (const row of data.leadRows) {
    const lead = parseLeadRow(row);
    if (!lead) continue;
    const last = leads.at(-1);
    if (last?.kommoId === lead.kommoId) leads[leads.length - 1] = mergeLeadFragments(last, lead);
    else leads.push(lead);
  }
  return {
    accountId: Number(data.accountId),
    leads: leads.filter((lead) => !lead.isDeleted),
    pipelines: groupPipelineRows(data.pipelineRows),
    users: data.userRows.map(parseUserRow).filter((user): user is User => user !== null),
  };
}

export interface KommoReply {
  readonly status: number;
  readonly body?: Json;
  readonly contentType?: string;
}

export const kommoProblem = (status: number, title: string, detail: string): KommoReply => ({
  status,
  contentType: 'application/problem+json',
  body: { title, type: `https://httpstatus.es/${status}`, status, detail },
});

/** Answers one Kommo API request for an authenticated account. */
export function answerKommo(account: KommoAccount, path: string, query: URLSearchParams, options: { usersForbidden: boolean }): KommoReply {
  const page = Math.max(1, Math.trunc(Number(query.get('page') ?? 1)) || 1);
  const limit = Math.min(250, Math.max(1, Math.trunc(Number(query.get('limit') ?? 50)) || 50));
  const withs = new Set((query.get('with') ?? '').split(',').filter(Boolean));
  const list = (key: string, items: readonly Json[], base: string): KommoReply => {
    const slice = items.slice((page - 1) * limit, page * limit);
    if (slice.length === 0) return { status: 204 };
    const href = (p: number) => ({ href: `${base}?page=${p}&limit=${limit}` });
    const links: Json = { self: href(page), first: href(1) };
    if (page * limit < items.length) links.next = href(page + 1);
    if (page > 1) links.prev = href(page - 1);
    return { status: 200, contentType: 'application/hal+json', body: { _page: page, _links: links, _embedded: { [key]: slice } } };
  };

  if (path === '/api/v4/leads') {
    const ids = query.getAll('filter[id][]');
    const pipelines = query.getAll('filter[pipeline_id][]');
    const responsibles = query.getAll('filter[responsible_user_id][]');
    const stagePipeline = query.get('filter[statuses][0][pipeline_id]');
    const stageStatus = query.get('filter[statuses][0][status_id]');
    const range = (name: string, value: Date) => {
      const from = query.get(`filter[${name}][from]`);
      const to = query.get(`filter[${name}][to]`);
      const seconds = value.getTime() / 1000;
      return (from === null || seconds >= Number(from)) && (to === null || seconds <= Number(to));
    };
    const leads = account.leads.filter(
      (lead) =>
        (ids.length === 0 || ids.includes(lead.kommoId)) &&
        (pipelines.length === 0 || pipelines.includes(lead.pipelineId ?? '')) &&
        (responsibles.length === 0 || responsibles.includes(lead.responsibleUserId ?? '')) &&
        (stagePipeline === null || (lead.pipelineId === stagePipeline && lead.statusId === stageStatus)) &&
        range('created_at', lead.createdAt) &&
        range('updated_at', lead.updatedAt),
    );
    return list(
      'leads',
      leads.map((lead) => leadJson(lead, account.accountId, withs)),
      path,
    );
  }
  if (path === '/api/v4/leads/pipelines') {
    const pipelines = account.pipelines.map((pipeline) => pipelineJson(pipeline, account.accountId));
    return {
      status: 200,
      contentType: 'application/hal+json',
      body: { _total_items: pipelines.length, _links: { self: { href: path } }, _embedded: { pipelines } },
    };
  }
  if (path === '/api/v4/users') {
    if (options.usersForbidden) return kommoProblem(403, 'Forbidden', 'Access denied: the user is not an administrator');
    const reply = list('users', account.users.map(userJson), path);
    if (reply.body) (reply.body as Json)._total_items = account.users.length;
    return reply;
  }
  const user = /^\/api\/v4\/users\/(\d+)$/.exec(path);
  if (user) {
    const found = account.users.find((candidate) => candidate.kommoId === user[1]);
    return found
      ? { status: 200, contentType: 'application/hal+json', body: userJson(found) }
      : kommoProblem(404, 'Not Found', 'User not found');
  }
  return kommoProblem(404, 'Not Found', `No route for ${path}`);
}

/** Writes a Kommo reply. */
export function writeKommo(response: ServerResponse, reply: KommoReply): void {
  if (reply.status === 204 || !reply.body) {
    response.writeHead(reply.status).end();
    return;
  }
  const text = JSON.stringify(reply.body);
  response.writeHead(reply.status, { 'content-type': reply.contentType ?? 'application/json', 'content-length': Buffer.byteLength(text) });
  response.end(text);
}
