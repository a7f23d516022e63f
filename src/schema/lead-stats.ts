/** `leadStats`: counts and sums over the leads a filter selects, whole and grouped, from the tenant's lead index. */
import { builder } from '../builder.js';
import { statusKey } from '../context.js';
import { BadUserInputError } from '../errors.js';
import type { TenantIndex } from '../index/registry.js';
import { checkTimeZone, type LeadGroup as GroupShape, type LeadTotals, leadGroups, leadTotals } from '../index/stats.js';
import type { IndexQuery } from '../index/store.js';
import { readyIndex } from './index-access.js';
import { LeadFilter, type LeadFilterInput, toIndexQuery } from './lead-filter.js';
import { Pipeline, Status, User } from './refs.js';
import { Tag } from './values.js';

/** The most groups one `groups` field returns (a tenant has few pipelines, users and tags; days over years are many). */
const MAX_GROUPS = 10_000;

interface StatsShape {
  readonly index: TenantIndex;
  /** Null: the filter contradicts itself (no lead matches). */
  readonly query: IndexQuery | null;
  totals?: LeadTotals;
}

const LeadGrouping = builder.enumType('LeadGrouping', {
  description: 'What leads are grouped by in `LeadStats.groups`.',
  values: {
    PIPELINE: { description: 'The pipeline the lead is in.' },
    STATUS: { description: 'The stage (pipeline and status) the lead is at.' },
    RESPONSIBLE_USER: { description: 'The user responsible for the lead.' },
    TAG: { description: 'Each tag of the lead: a lead with several tags counts in each of their groups, one without in the "" group.' },
    CREATED_PERIOD: { description: 'The period (see `period`, `timeZone`) the lead was created in.' },
    CLOSED_PERIOD: { description: 'The period the lead was won or lost in; open leads in the "" group.' },
  } as const,
});

const LeadPeriod = builder.enumType('LeadPeriod', {
  description: 'The length of a period for CREATED_PERIOD and CLOSED_PERIOD groupings.',
  values: {
    DAY: { description: 'A calendar day.' },
    WEEK: { description: 'A week from Monday (ISO 8601).' },
    MONTH: { description: 'A calendar month.' },
  } as const,
});

const LeadGroupRef = builder.objectRef<GroupShape>('LeadGroup').implement({
  description: 'The leads of one group: how many, and their total value.',
  fields: (t) => ({
    key: t.exposeString('key', {
      description:
        "The group's id: the pipeline id, `pipelineId:statusId` for a stage, the user id, the tag id, or the period's start as an ISO date (YYYY-MM-DD); the empty string for leads without a value (no tag, no user, not closed).",
    }),
    pipeline: t.field({
      type: Pipeline,
      nullable: true,
      description: 'The pipeline of a PIPELINE or STATUS group; null otherwise, or when it no longer exists.',
      resolve: (group) => group.pipelineId,
    }),
    status: t.field({
      type: Status,
      nullable: true,
      description: 'The stage of a STATUS group; null otherwise.',
      resolve: (group) => (group.pipelineId && group.statusId ? statusKey(group.pipelineId, group.statusId) : null),
    }),
    user: t.field({
      type: User,
      nullable: true,
      description: 'The user of a RESPONSIBLE_USER group; null otherwise, or when the user no longer exists.',
      resolve: (group) => group.userId,
    }),
    tag: t.field({ type: Tag, nullable: true, description: 'The tag of a TAG group; null otherwise.', resolve: (group) => group.tag }),
    periodStart: t.field({
      type: 'DateTime',
      nullable: true,
      description: 'Start of the period, in timeZone (weeks start on Monday, ISO 8601); null for other groupings and the "" group.',
      resolve: (group) => group.periodStart,
    }),
    count: t.exposeInt('count', { description: 'Leads in the group.' }),
    totalPrice: t.exposeFloat('totalPrice', { description: 'The sum of their deal values.' }),
  }),
});

const totalsOf = (stats: StatsShape): LeadTotals => {
  stats.totals ??= stats.query ? leadTotals(stats.index.store, stats.query) : { count: 0, totalPrice: 0 };
  return stats.totals;
};

const LeadStats = builder.objectRef<StatsShape>('LeadStats').implement({
  description: 'Counts and sums over the leads matching a filter, from the lead index: no upstream call.',
  fields: (t) => ({
    count: t.int({ description: 'Leads matching the filter.', resolve: (stats) => totalsOf(stats).count }),
    totalPrice: t.float({ description: 'The sum of their deal values.', resolve: (stats) => totalsOf(stats).totalPrice }),
    averagePrice: t.float({
      nullable: true,
      description: 'Their average deal value; null when count is 0.',
      resolve: (stats) => {
        const { count, totalPrice } = totalsOf(stats);
        return count === 0 ? null : totalPrice / count;
      },
    }),
    groups: t.field({
      type: [LeadGroupRef],
      description: 'The matching leads grouped; groups ordered by count descending, then key ascending.',
      args: {
        by: t.arg({ type: LeadGrouping, required: true, description: 'What to group by.' }),
        period: t.arg({
          type: LeadPeriod,
          required: false,
          defaultValue: 'MONTH',
          description: 'The period length for CREATED_PERIOD and CLOSED_PERIOD (default MONTH).',
        }),
        timeZone: t.arg.string({
          required: false,
          defaultValue: 'UTC',
          description: 'The IANA time zone periods are computed in (default "UTC"), e.g. "America/Sao_Paulo".',
        }),
        first: t.arg.int({
          required: false,
          description: `At most this many groups, the largest first (0 to ${MAX_GROUPS}); all when omitted.`,
        }),
      },
      resolve: (stats, args) => {
        const first = args.first ?? null;
        if (first !== null && (first < 0 || first > MAX_GROUPS)) {
          throw new BadUserInputError(`"first" must be a whole number from 0 to ${MAX_GROUPS}, got ${first}`, 'first');
        }
        const timeZone = checkTimeZone(args.timeZone ?? 'UTC');
        if (!stats.query) return [];
        return leadGroups(stats.index.store, stats.query, { by: args.by, period: args.period ?? 'MONTH', timeZone, first });
      },
    }),
    dataAsOf: t.field({
      type: 'DateTime',
      nullable: true,
      description: 'When the lead index snapshot these numbers come from was last refreshed.',
      resolve: (stats) => stats.index.dataAsOf,
    }),
  }),
});

builder.queryFields((t) => ({
  leadStats: t.field({
    type: LeadStats,
    description:
      'Counts and sums over the leads matching the filter (the same LeadFilter as `leads`), whole and grouped: a funnel by stage, a chart by week. From the lead index, with no upstream call.',
    args: { filter: t.arg({ type: LeadFilter, required: false, description: 'Narrows the leads; combined with AND, as in `leads`.' }) },
    resolve: async (_root, args, context) => {
      const query = toIndexQuery(args.filter as LeadFilterInput | null | undefined);
      return { index: await readyIndex(context, '"leadStats" is served from the lead index'), query };
    },
  }),
}));
