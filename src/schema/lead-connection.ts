import type { GraphQLResolveInfo } from 'graphql';
import { builder } from '../builder.js';
import type { Context } from '../context.js';
import { BadUserInputError, DomainError } from '../errors.js';
import type { TenantIndex } from '../index/registry.js';
import { isIndexCursor } from '../index/store.js';
import {
  type ConnectionArgs,
  checkPageArgs,
  isUpstreamCursor,
  type LeadPage,
  type LeadSelection,
  type PageSettings,
  paginateLeads,
} from '../pagination.js';
import { selectedFieldNames } from '../selection.js';
import { checkSelection } from '../sources/filters.js';
import { readyIndex } from './index-access.js';
import { type IndexOnlyFilters, indexOnlyFilters, LeadFilter, type LeadFilterInput, LeadOrder, toLeadSelection } from './lead-filter.js';

type LeadOrderInput = typeof LeadOrder.$inferInput;

import { Lead, Pipeline, Status, User } from './refs.js';

export const LeadConnection = builder.connectionObject(
  {
    type: Lead,
    name: 'LeadConnection',
    description:
      "A page of leads (Relay Cursor Connections): from the tenant's lead index once it is ready (`dataAsOf` set), otherwise read upstream. Page forward with `first`/`after`, backward with `last`/`before`.",
    fields: (t) => ({
      totalCount: t.int({
        nullable: true,
        description:
          "The exact number of leads matching the filter. Always known when the page comes from the tenant's lead index (`dataAsOf` set); from the upstream directly, only when the whole result fits in two upstream pages, otherwise null (see `totalCountUpperBound`).",
        resolve: (connection) => connection.count(),
      }),
      totalCountUpperBound: t.int({
        nullable: true,
        description:
          'At least the number of leads matching the filter. From the lead index, that number itself; from the upstream directly, its row total for the filter (a lead with several tags is several rows, and deleted leads count), null when the upstream reports no total.',
        resolve: (connection) => connection.totalRows,
      }),
      dataAsOf: t.field({
        type: 'DateTime',
        nullable: true,
        description:
          "When the lead index snapshot this page was read from was last refreshed: changes made upstream before then are in it. Null when the page came from the upstream directly (the index is off, or the tenant's first index read has not completed).",
        resolve: (connection) => connection.dataAsOf ?? null,
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
  indexOnlyFilters(args.filter as LeadFilterInput | null | undefined);
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

type LeadsArgs = ConnectionArgs & { filter?: LeadFilterInput | null; orderBy?: LeadOrderInput | null };

interface ConnectionPage extends Pick<LeadPage, 'edges' | 'pageInfo' | 'totalRows' | 'count'> {
  /** When the index snapshot it was read from was last refreshed; absent for a page read upstream. */
  readonly dataAsOf?: Date | null;
}

/** Why the upstream alone cannot answer these arguments (they need the index), or null when it can. */
function passThroughRefusal(context: Context, selection: LeadSelection, extra: IndexOnlyFilters | null, args: LeadsArgs): Error | null {
  if (args.orderBy)
    return new BadUserInputError(`"orderBy" sorts from the lead index (${context.adapter.sourceName} cannot sort)`, 'orderBy');
  if (extra) {
    const name = Object.keys(extra)[0];
    return new BadUserInputError(`"filter.${name}" is applied by the lead index`, `filter.${name}`);
  }
  if (isIndexCursor(args.after) || isIndexCursor(args.before)) {
    return new BadUserInputError('the cursor comes from a page of the lead index', args.after ? 'after' : 'before');
  }
  try {
    checkSelection(context.adapter, selection.query, selection.includeDeleted);
    return null;
  } catch (error) {
    return error as Error;
  }
}

function fromIndex(
  index: TenantIndex,
  selection: LeadSelection,
  extra: IndexOnlyFilters | null,
  args: LeadsArgs,
  context: Context,
): ConnectionPage {
  const orderBy = args.orderBy ? { field: args.orderBy.field, direction: args.orderBy.direction ?? 'ASC' } : null;
  const page = index.store.query(
    { filter: { ...selection.query, ...extra }, orderBy, includeDeleted: selection.includeDeleted },
    args,
    context.settings,
  );
  return {
    edges: page.edges,
    pageInfo: page.pageInfo,
    totalRows: page.totalCount,
    count: async () => page.totalCount,
    dataAsOf: index.dataAsOf,
  };
}

async function resolveLeads(args: LeadsArgs, context: Context, scope?: Scope): Promise<ConnectionPage> {
  const selection = toLeadSelection(args.filter, scope);
  const extra = indexOnlyFilters(args.filter);
  if (!selection) {
    return {
      edges: [],
      pageInfo: { hasNextPage: false, hasPreviousPage: false, startCursor: null, endCursor: null },
      totalRows: 0,
      count: async () => 0,
      dataAsOf: context.index?.dataAsOf ?? null,
    };
  }
  // A walk that began on upstream pages goes on there: its cursors are upstream row offsets.
  const upstreamWalk = isUpstreamCursor(args.after) || isUpstreamCursor(args.before);
  if (context.index && !upstreamWalk) return fromIndex(context.index, selection, extra, args, context);
  const refusal = passThroughRefusal(context, selection, extra, args);
  if (refusal === null) return paginateLeads(selection, args, context.settings, context.adapter.blockSize, context.blocks(selection));
  // What only the index can answer waits for it, a while.
  const { indexing } = context;
  if (indexing.enabled && upstreamWalk) {
    // The index is there: what is wrong is the cursor, which only goes on with the page it came from.
    const argument = isUpstreamCursor(args.after) ? 'after' : 'before';
    throw new BadUserInputError(
      `${refusal.message}, and "${argument}" comes from a page read upstream, without the lead index: start again without a cursor`,
      argument,
    );
  }
  if (!indexing.enabled) {
    if (
      refusal instanceof DomainError &&
      refusal.code === 'BAD_USER_INPUT' &&
      !args.orderBy &&
      !extra &&
      !isIndexCursor(args.after) &&
      !isIndexCursor(args.before)
    ) {
      throw refusal; // as without an index: the source's own refusal
    }
    throw new DomainError('INDEX_UNAVAILABLE', `${refusal.message}, and the lead index is off here (LEADGRAPH_INDEX=off)`);
  }
  return fromIndex(await readyIndex(context, refusal.message), selection, extra, args, context);
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
      args: {
        filter: t.arg({ type: LeadFilter, required: false, description: 'Narrows the leads; combined with AND.' }),
        orderBy: t.arg({
          type: LeadOrder,
          required: false,
          description:
            "Sorts the leads (from the lead index). Without it, the upstream's order as the index first read it, leads that appeared later after them.",
        }),
      },
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
