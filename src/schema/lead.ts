import { builder } from '../builder.js';
import { statusKey } from '../context.js';
import type { Lead as LeadShape } from '../sources/adapter.js';
import { kommoId, parseKommoId } from './lead-filter.js';
import { Pipeline } from './pipeline.js';
import { Status } from './status.js';
import { User } from './user.js';
import { Contact, CustomFieldValue, LeadSource, LossReason, Tag } from './values.js';

export const Lead = builder.loadableNodeRef<LeadShape, string>('Lead', {
  id: { resolve: (lead) => lead.kommoId },
  toKey: (lead) => lead.kommoId,
  sort: true,
  cacheResolved: true,
  // The adapter batches as far as its upstream allows (Kommo: 250 ids a call; V4: one call per id, bounded concurrency).
  load: (ids, context) => context.adapter.getLeads(ids, context.signal),
});

Lead.implement({
  description: 'A Kommo lead (deal): what is being sold, to whom, at which stage, by whom.',
  fields: (t) => ({
    kommoId: t.exposeID('kommoId', { description: 'The Kommo lead id.' }),
    name: t.exposeString('name', { description: 'The lead name ("" when it has none).' }),
    price: t.exposeFloat('price', { description: 'The deal value in the account currency (0 when unset).' }),
    pipeline: t.field({
      type: Pipeline,
      nullable: true,
      description: 'The pipeline the lead is in; null when the upstream does not know it.',
      resolve: (lead) => lead.pipelineId,
    }),
    status: t.field({
      type: Status,
      nullable: true,
      description: 'The stage of the lead within its pipeline.',
      resolve: (lead) => (lead.pipelineId && lead.statusId ? statusKey(lead.pipelineId, lead.statusId) : null),
    }),
    responsibleUser: t.field({
      type: User,
      nullable: true,
      description: 'The user responsible for the lead; null when unset or when the user no longer exists.',
      resolve: (lead) => lead.responsibleUserId,
    }),
    createdBy: t.field({
      type: User,
      nullable: true,
      description: 'Who created the lead; null for the system, a robot or an integration (Kommo user 0).',
      resolve: (lead) => lead.createdById,
    }),
    updatedBy: t.field({
      type: User,
      nullable: true,
      description: 'Who last changed the lead; null for the system, a robot or an integration.',
      resolve: (lead) => lead.updatedById,
    }),
    groupId: t.exposeID('groupId', { nullable: true, description: 'The Kommo user group of the lead.' }),
    lossReason: t.field({
      type: LossReason,
      nullable: true,
      description: 'Why the lead was lost, for lost leads that have a reason.',
      resolve: (lead) => lead.lossReason,
    }),
    tags: t.field({ type: [Tag], description: 'All tags of the lead.', resolve: (lead) => lead.tags }),
    contacts: t.field({
      type: [Contact],
      description: 'Contacts linked to the lead (ids only).',
      resolve: (lead) => lead.contactIds.map((id) => ({ kommoId: id })),
    }),
    customFields: t.field({
      type: [CustomFieldValue],
      description: 'Custom field values set on the lead.',
      resolve: (lead) => lead.customFields,
    }),
    score: t.exposeInt('score', { nullable: true, description: 'The lead score, when scoring is on.' }),
    laborCostSeconds: t.exposeInt('laborCostSeconds', { nullable: true, description: 'Labour cost spent on the lead, in seconds.' }),
    source: t.field({
      type: LeadSource,
      nullable: true,
      description: 'Where the lead came from, when known.',
      resolve: (lead) => lead.source,
    }),
    createdAt: t.expose('createdAt', { type: 'DateTime', description: 'When the lead was created.' }),
    updatedAt: t.expose('updatedAt', { type: 'DateTime', description: 'When the lead was last changed.' }),
    closedAt: t.expose('closedAt', { type: 'DateTime', nullable: true, description: 'When the lead was won or lost.' }),
    closestTaskAt: t.expose('closestTaskAt', { type: 'DateTime', nullable: true, description: 'When its nearest open task is due.' }),
    isDeleted: t.exposeBoolean('isDeleted', { description: 'Deleted in Kommo but still in the warehouse.' }),
  }),
});

builder.queryFields((t) => ({
  lead: t.field({
    type: Lead,
    nullable: true,
    description: 'One lead by its Kommo id, deleted or not (see `isDeleted`); null when it does not exist. Costs one upstream call.',
    args: { kommoId: t.arg.id({ required: true, description: 'The Kommo lead id.' }) },
    resolve: (_root, args) => kommoId(args.kommoId, 'kommoId'),
  }),
}));

builder.asEntity(Lead, {
  key: builder.selection<{ kommoId: string }>('kommoId'),
  // One upstream call per distinct lead (V4 filters by one lead id), de-duplicated per request and
  // run with bounded concurrency by the loader.
  resolveReference: (reference, context) => {
    // A representation with an id that cannot exist is a missing entity, not a failed batch.
    const id = parseKommoId(reference.kommoId);
    return id === null ? null : Lead.getDataloader(context).load(id);
  },
});
