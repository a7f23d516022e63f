import type { GraphQLResolveInfo } from 'graphql';
import { builder } from '../builder.js';
import type { Context } from '../context.js';
import { type ConnectionArgs, checkPageArgs, type PageSettings, paginateLeads } from '../pagination.js';
import { selectedFieldNames } from '../selection.js';
import { checkSelection } from '../sources/filters.js';
import { LeadFilter, type LeadFilterInput, toLeadSelection } from './lead-filter.js';
import { Lead, Pipeline, Status, User } from './refs.js';

export const LeadConnection = builder.connectionObject(
  {
    type: Lead,
    name: 'LeadConnection',
    description:
      'A page of leads in upstream order (Relay Cursor Connections). Page forward with `first`/`after`, backward with `last`/`before`.',
    fields: (t) => ({
      totalCount: t.int({
        nullable: true,
        description:
          'The exact number of leads matching the filter, when it can be known cheaply (the whole result fits in two upstream pages); otherwise null. See `totalCountUpperBound`.',
        resolve: (connection) => connection.count(),
      }),
      totalCountUpperBound: t.int({
        nullable: true,
        description:
          'The upstream row total for the filter: the number of leads is at most this (a lead with several tags is several rows, and deleted leads count). Null when the upstream reports no total.',
        resolve: (connection) => connection.totalRows,
      }),
    }),
  },
  { name: 'LeadEdge', description: 'A lead and its cursor.' },
);

type Scope = Parameters<typeof toLeadSelection>[1];

/**
 * The checks of a `leads` field's arguments that do not depend on its parent, for the call plan to
 * make before any call (a bad argument is BAD_USER_INPUT, not a refused or half-spent request).
 */
export function checkLeadsArguments(args: { first?: unknown; last?: unknown; filter?: unknown }, settings: PageSettings): void {
  const size = (value: unknown) => (typeof value === 'number' ? value : null);
  checkPageArgs({ first: size(args.first), last: size(args.last) }, settings);
  toLeadSelection(args.filter as LeadFilterInput | null | undefined);
}

/** One page of leads for a connection field: the filter, narrowed by the parent's scope. */
const PIPELINE_FIELDS = new Set(['pipeline', 'status']);
const USER_FIELDS = new Set(['responsibleUser', 'createdBy', 'updatedBy']);

/**
 * Looks ahead at what the page's leads select and starts fetching the reference tables they will
 * need now, in parallel with the leads block, instead of one round trip after it.
 */
function prefetchReferences(info: GraphQLResolveInfo, context: Context): void {
  const fields = selectedFieldNames(info, ['edges', 'node']);
  const quietly = (load: () => Promise<unknown>): void => {
    load().catch(() => undefined); // a failure surfaces on the field that needs the table
  };
  if ([...fields].some((name) => PIPELINE_FIELDS.has(name))) quietly(context.pipelineIndex);
  if ([...fields].some((name) => USER_FIELDS.has(name))) quietly(context.userIndex);
}

function resolveLeads(args: ConnectionArgs & { filter?: LeadFilterInput | null }, context: Context, scope?: Scope) {
  const selection = toLeadSelection(args.filter, scope);
  if (selection) checkSelection(context.adapter, selection.query, selection.includeDeleted);
  if (!selection) {
    return {
      edges: [],
      pageInfo: { hasNextPage: false, hasPreviousPage: false, startCursor: null, endCursor: null },
      totalRows: 0,
      count: async () => 0,
    };
  }
  return paginateLeads(selection, args, context.settings, context.adapter.blockSize, context.blocks(selection));
}

type Types = typeof builder extends PothosSchemaTypes.SchemaBuilder<infer T> ? T : never;

/** The `leads` connection field, the same everywhere; `scope` narrows it to the parent (its id). */
function leadsField<Parent>(
  t: PothosSchemaTypes.RootFieldBuilder<Types, Parent>,
  description: string,
  scope: (parent: Parent) => Scope = () => ({}),
) {
  return t.connection(
    {
      type: Lead,
      description: `${description} \`first\`/\`last\` take 0 to the configured maximum (default 250); without either, a page is 50. A cursor only works with the filter that produced it.`,
      args: { filter: t.arg({ type: LeadFilter, required: false, description: 'Narrows the leads; combined with AND.' }) },
      resolve: (parent, args, context, info) => {
        prefetchReferences(info, context);
        return resolveLeads(args, context, scope(parent as Parent));
      },
    },
    LeadConnection,
  );
}

builder.queryFields((t) => ({ leads: leadsField(t, 'Leads of the account.') }));
builder.objectFields(Pipeline, (t) => ({
  leads: leadsField(t, 'Leads in this pipeline.', (pipeline) => ({ pipelineId: pipeline.kommoId })),
}));
builder.objectFields(Status, (t) => ({
  leads: leadsField(t, 'Leads at this stage of this pipeline.', (status) => ({
    pipelineId: status.pipelineId,
    statusId: status.kommoId,
  })),
}));
builder.objectFields(User, (t) => ({
  leads: leadsField(t, 'Leads this user is responsible for.', (user) => ({ responsibleUserId: user.kommoId })),
}));
