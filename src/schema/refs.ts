/**
 * The entity refs, declared before any type file implements them (as the Pothos examples do), so
 * type files that point at each other (a pipeline's statuses, a status's pipeline) import refs from
 * here and never each other. Each ref carries its per-request loader.
 */
import { builder } from '../builder.js';
import { entriesFor, statusKey } from '../context.js';
import {
  isUnresolved,
  type Lead as LeadShape,
  type Pipeline as PipelineShape,
  type Status as StatusShape,
  type User as UserShape,
} from '../sources/adapter.js';

export const Lead = builder.loadableNodeRef<LeadShape, string>('Lead', {
  id: { resolve: (lead) => lead.kommoId },
  toKey: (lead) => lead.kommoId,
  cacheResolved: true,
  // The adapter batches as far as its upstream allows (Kommo: 250 ids a call; V4: one call per id, or the
  // table's blocks when fewer). In key order: a lead, null when it does not exist, or the error of an id the
  // request's call allowance left unchecked.
  load: async (ids, context): Promise<(LeadShape | Error)[]> => {
    // From the tenant's lead index when it serves: no upstream call, deleted leads included, unknown ids null.
    const held = context.index ? context.index.store.get(ids) : null;
    // A source that lists deleted leads apart (Kommo) never showed the index those deleted before its first
    // read: the ids it lacks are asked upstream, as without the index, so a deleted lead resolves deleted.
    const ask = held === null ? ids : context.adapter.deletedLeads === 'listed' ? [] : ids.filter((_, i) => held[i] === null);
    if (held && ask.length === 0) return held as LeadShape[];
    const byId = new Map<string, LeadShape | Error>();
    for (const entry of await context.adapter.getLeads(ask, context.signal)) {
      byId.set(entry.kommoId, isUnresolved(entry) ? entry.unresolved : entry);
    }
    // A missing lead is null, as with `sort` (Pothos' types allow only shapes and errors here).
    return ids.map((id, i) => held?.[i] ?? byId.get(id) ?? (null as unknown as LeadShape));
  },
});

export const Pipeline = builder.loadableNodeRef<PipelineShape, string>('Pipeline', {
  id: { resolve: (pipeline) => pipeline.kommoId },
  toKey: (pipeline) => pipeline.kommoId,
  sort: true,
  // The pipelines table is small and fetched whole: any number of ids is one upstream call per request.
  load: async (ids, context) => entriesFor((await context.pipelineIndex()).byId, ids),
});

export const Status = builder.loadableNodeRef<StatusShape, string>('Status', {
  // A status is (pipeline, status id): 142 and 143 exist in every pipeline with the same ids.
  id: { resolve: (status) => statusKey(status.pipelineId, status.kommoId) },
  toKey: (status) => statusKey(status.pipelineId, status.kommoId),
  sort: true,
  load: async (keys, context) => entriesFor((await context.pipelineIndex()).statuses, keys),
});

export const User = builder.loadableNodeRef<UserShape, string>('User', {
  id: { resolve: (user) => user.kommoId },
  toKey: (user) => user.kommoId,
  sort: true,
  // The users table is fetched whole once per request: any number of ids is one upstream call
  // (the adapter falls back to one call per user where the token may not list them).
  load: async (ids, context) =>
    context.index?.tables?.users ? entriesFor((await context.userIndex()).byId, ids) : context.adapter.getUsers(ids, context.signal),
});
