/**
 * The demo account as Kommo's own API v4 serves it, written from the upstream contract: integer
 * ids, Unix-second times, HAL envelopes with `_links.next`, 204 for an empty page, `_embedded`
 * tags/contacts/loss reason, problem+json errors, and no deleted leads in the normal list.
 * Kommo has no warehouse copy, so the V4 row quirks (`v4Text`) do not exist here: what the account
 * has lost is null (`created_at`, `custom_fields_values`), and a missing name or price is Kommo's
 * own default ("" and 0).
 */
import type { ServerResponse } from 'node:http';
import type { DemoAccount, DemoLead, DemoPipeline, DemoUser } from './data.js';

type Json = Record<string, unknown>;

const unix = (date: Date | null): number | null => (date ? Math.floor(date.getTime() / 1000) : null);

function leadJson(lead: DemoLead, accountId: number, withs: ReadonlySet<string>): Json {
  const embedded: Json = { tags: lead.tags.map((tag) => ({ id: tag.id, name: tag.name, color: tag.color })), companies: [] };
  if (withs.has('contacts')) embedded.contacts = lead.contactIds.map((id, index) => ({ id, is_main: index === 0 }));
  if (withs.has('loss_reason') && lead.lossReason) embedded.loss_reason = [{ id: lead.lossReason.id, name: lead.lossReason.name }];
  const json: Json = {
    id: lead.id,
    name: lead.name ?? '',
    price: lead.price ?? 0,
    responsible_user_id: lead.responsibleUserId,
    group_id: lead.groupId,
    status_id: lead.statusId,
    pipeline_id: lead.pipelineId,
    loss_reason_id: lead.lossReason?.id ?? null,
    created_by: lead.createdBy,
    updated_by: lead.updatedBy,
    created_at: unix(lead.createdAt),
    updated_at: unix(lead.updatedAt),
    closed_at: unix(lead.closedAt),
    closest_task_at: unix(lead.closestTaskAt),
    is_deleted: lead.isDeleted,
    custom_fields_values:
      lead.customFields.length === 0
        ? null
        : lead.customFields.map((field) => ({
            field_id: field.fieldId,
            field_name: field.name,
            field_code: field.code,
            field_type: field.type,
            values: field.values.map((entry) =>
              entry.enum ? { value: entry.value, enum_id: entry.enum.id, enum_code: entry.enum.code } : { value: entry.value },
            ),
          })),
    score: lead.score,
    account_id: accountId,
    labor_cost: lead.laborCost,
    _links: { self: { href: `/api/v4/leads/${lead.id}` } },
    _embedded: embedded,
  };
  if (withs.has('source_id')) json.source_id = lead.source?.id ?? null;
  return json;
}

/** A deleted lead as `with=only_deleted` lists it: its id, when it changed, and that it is deleted. */
function deletedLeadJson(lead: DemoLead): Json {
  return { id: lead.id, updated_at: unix(lead.updatedAt), is_deleted: true, _links: { self: { href: `/api/v4/leads/${lead.id}` } } };
}

function pipelineJson(pipeline: DemoPipeline, accountId: number): Json {
  return {
    id: pipeline.id,
    name: pipeline.name,
    sort: pipeline.sort,
    is_main: pipeline.isMain,
    is_unsorted_on: true,
    is_archive: pipeline.isArchive,
    account_id: accountId,
    _embedded: {
      statuses: pipeline.statuses.map((status) => ({
        id: status.id,
        name: status.name,
        sort: status.sort,
        is_editable: status.isEditable,
        pipeline_id: pipeline.id,
        color: status.color,
        type: status.type,
        account_id: accountId,
      })),
    },
  };
}

function userJson(user: DemoUser): Json {
  return {
    id: user.id,
    name: user.name,
    email: user.email,
    lang: 'en',
    rights: { is_admin: user.isAdmin, is_active: user.isActive, role_id: user.role.id, group_id: user.group.id },
    _embedded: { roles: [{ id: user.role.id, name: user.role.name }], groups: [{ id: user.group.id, name: user.group.name }] },
  };
}

export interface KommoReply {
  readonly status: number;
  readonly body?: Json;
  readonly contentType?: string;
}

export const kommoProblem = (status: number, title: string, detail: string, extra: Json = {}): KommoReply => ({
  status,
  contentType: 'application/problem+json',
  body: { title, type: `https://httpstatus.es/${status}`, status, detail, ...extra },
});

/** `filter[name][from]`/`[to]` in Unix seconds; a lead without the time matches no range. */
function inRange(query: URLSearchParams, name: string, value: Date | null): boolean {
  const from = query.get(`filter[${name}][from]`);
  const to = query.get(`filter[${name}][to]`);
  if (from === null && to === null) return true;
  if (value === null) return false;
  const seconds = value.getTime() / 1000;
  return (from === null || seconds >= Number(from)) && (to === null || seconds <= Number(to));
}

const ORDER_KEYS: Readonly<Record<string, (lead: DemoLead) => number | null>> = {
  id: (lead) => lead.id,
  created_at: (lead) => unix(lead.createdAt),
  updated_at: (lead) => unix(lead.updatedAt),
};

/** `order[created_at|updated_at|id]=asc|desc` (the first given), ties by id in the same direction; without one, the account's own order. */
function ordered(leads: readonly DemoLead[], query: URLSearchParams): readonly DemoLead[] {
  for (const [field, key] of Object.entries(ORDER_KEYS)) {
    const direction = query.get(`order[${field}]`);
    if (direction !== 'asc' && direction !== 'desc') continue;
    const sign = direction === 'asc' ? 1 : -1;
    // A lead without the time sorts as the oldest.
    const at = (lead: DemoLead): number => key(lead) ?? Number.NEGATIVE_INFINITY;
    return [...leads].sort((a, b) => sign * (at(a) === at(b) ? a.id - b.id : at(a) < at(b) ? -1 : 1));
  }
  return leads;
}

/** Answers one Kommo API request (a GET) for an authenticated account. */
export function answerKommo(account: DemoAccount, path: string, query: URLSearchParams): KommoReply {
  const page = Math.max(1, Math.trunc(Number(query.get('page') ?? 1)) || 1);
  const limit = Math.min(250, Math.max(1, Math.trunc(Number(query.get('limit') ?? 50)) || 50));
  const withs = new Set((query.get('with') ?? '').split(',').filter(Boolean));
  const list = <T>(key: string, items: readonly T[], render: (item: T) => Json, extra: Json = {}): KommoReply => {
    const slice = items.slice((page - 1) * limit, page * limit);
    if (slice.length === 0) return { status: 204 };
    const href = (p: number) => ({ href: `${path}?page=${p}&limit=${limit}` });
    const links: Json = { self: href(page), first: href(1) };
    if (page * limit < items.length) links.next = href(page + 1);
    if (page > 1) links.prev = href(page - 1);
    return {
      status: 200,
      contentType: 'application/hal+json',
      body: { ...extra, _page: page, _links: links, _embedded: { [key]: slice.map(render) } },
    };
  };

  if (path === '/api/v4/leads') {
    const ids = query.getAll('filter[id][]');
    const pipelines = query.getAll('filter[pipeline_id][]');
    const responsibles = query.getAll('filter[responsible_user_id][]');
    const stagePipeline = query.get('filter[statuses][0][pipeline_id]');
    const stageStatus = query.get('filter[statuses][0][status_id]');
    // Deleted leads leave the normal list; `with=only_deleted` lists them alone, with little more than their id.
    const deleted = withs.has('only_deleted');
    const leads = account.leads.filter(
      (lead) =>
        lead.isDeleted === deleted &&
        (ids.length === 0 || ids.includes(String(lead.id))) &&
        (pipelines.length === 0 || pipelines.includes(String(lead.pipelineId))) &&
        (responsibles.length === 0 || responsibles.includes(String(lead.responsibleUserId))) &&
        (stagePipeline === null || (String(lead.pipelineId) === stagePipeline && String(lead.statusId) === stageStatus)) &&
        inRange(query, 'created_at', lead.createdAt) &&
        inRange(query, 'updated_at', lead.updatedAt),
    );
    return list('leads', ordered(leads, query), (lead) => (deleted ? deletedLeadJson(lead) : leadJson(lead, account.accountId, withs)));
  }
  if (path === '/api/v4/leads/pipelines') {
    const pipelines = account.pipelines.map((pipeline) => pipelineJson(pipeline, account.accountId));
    return {
      status: 200,
      contentType: 'application/hal+json',
      body: { _total_items: pipelines.length, _links: { self: { href: path } }, _embedded: { pipelines } },
    };
  }
  if (path === '/api/v4/users') return list('users', account.users, userJson, { _total_items: account.users.length });
  const user = /^\/api\/v4\/users\/(\d+)$/.exec(path);
  if (user) {
    const found = account.users.find((candidate) => String(candidate.id) === user[1]);
    return found
      ? { status: 200, contentType: 'application/hal+json', body: userJson(found) }
      : kommoProblem(404, 'Not Found', 'User not found');
  }
  return kommoProblem(404, 'Not Found', `No route for ${path}`);
}

/** Writes a Kommo reply: 204 and bodiless replies without a body. */
export function writeKommo(response: ServerResponse, reply: KommoReply, headers: Record<string, string> = {}): void {
  if (reply.status === 204 || !reply.body) {
    response.writeHead(reply.status, headers).end();
    return;
  }
  const text = JSON.stringify(reply.body);
  response.writeHead(reply.status, {
    'content-type': reply.contentType ?? 'application/json',
    'content-length': Buffer.byteLength(text),
    ...headers,
  });
  response.end(text);
}
