import { builder } from '../builder.js';
import { entityByKommoIdField, kommoIdEntity } from './entity.js';
import { Pipeline, Status } from './refs.js';

Pipeline.implement({
  description: 'A Kommo sales pipeline: an ordered list of stages (statuses) that leads move through.',
  fields: (t) => ({
    kommoId: t.exposeID('kommoId', { description: 'The Kommo pipeline id.' }),
    name: t.exposeString('name', { description: 'The pipeline name.' }),
    sort: t.exposeInt('sort', { nullable: true, description: 'Its position among pipelines in Kommo.' }),
    isMain: t.exposeBoolean('isMain', { description: "True for the account's main pipeline." }),
    isArchived: t.exposeBoolean('isArchived', { description: 'True when the pipeline is archived.' }),
    statuses: t.field({
      type: [Status],
      description: 'Its stages in pipeline order, including 142 (won) and 143 (lost).',
      resolve: (pipeline) => pipeline.statuses,
    }),
  }),
});

builder.queryFields((t) => ({
  pipelines: t.field({
    type: [Pipeline],
    description: 'All pipelines with their stages. One upstream call.',
    resolve: async (_root, _args, context) => (await context.pipelineIndex()).pipelines,
  }),
}));

entityByKommoIdField(Pipeline, 'pipeline', 'One pipeline by its Kommo id; null when it does not exist.', 'The Kommo pipeline id.');
kommoIdEntity(Pipeline);
