import { builder } from '../builder.js';
import { entriesFor } from '../context.js';
import type { Pipeline as PipelineShape } from '../sources/adapter.js';
import { kommoId, parseKommoId } from './lead-filter.js';
import { Status } from './status.js';

export const Pipeline = builder.loadableNodeRef<PipelineShape, string>('Pipeline', {
  id: { resolve: (pipeline) => pipeline.kommoId },
  toKey: (pipeline) => pipeline.kommoId,
  sort: true,
  // The pipelines table is small and fetched whole: any number of ids is one upstream call per request.
  load: async (ids, context) => entriesFor((await context.pipelineIndex()).byId, ids),
});

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
  pipeline: t.field({
    type: Pipeline,
    nullable: true,
    description: 'One pipeline by its Kommo id; null when it does not exist.',
    args: { kommoId: t.arg.id({ required: true, description: 'The Kommo pipeline id.' }) },
    resolve: (_root, args) => kommoId(args.kommoId, 'kommoId'),
  }),
}));

builder.asEntity(Pipeline, {
  key: builder.selection<{ kommoId: string }>('kommoId'),
  // Through the per-request loader: any number of representations is one upstream call.
  resolveReference: (reference, context) => {
    // A representation with an id that cannot exist is a missing entity, not a failed batch.
    const id = parseKommoId(reference.kommoId);
    return id === null ? null : Pipeline.getDataloader(context).load(id);
  },
});
