import { statusKey } from '../context.js';
import { entityByKommoIdField, kommoIdEntity } from './entity.js';
import { Lead, Pipeline, Status, User } from './refs.js';
import { Contact, CustomFieldValue, LeadSource, LossReason, Tag } from './values.js';

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
    isDeleted: t.exposeBoolean('isDeleted', {
      description:
        'Deleted in Kommo. The V4 warehouse keeps the whole row; the Kommo API tells only the id and `updatedAt` of a deleted lead, so from that source its other fields are empty (`name` "", `price` 0, no pipeline).',
    }),
  }),
});

entityByKommoIdField(
  Lead,
  'lead',
  'One lead by its Kommo id, deleted or not (see `isDeleted`); null when it does not exist. Costs one upstream call (on the Kommo source, a second one when the lead is deleted or unknown).',
  'The Kommo lead id.',
);
kommoIdEntity(Lead);
