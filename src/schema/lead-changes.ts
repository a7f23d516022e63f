/**
 * `Subscription.leadChanged`: the leads the tenant's index refreshes see created, changed or deleted,
 * pushed to every subscriber of the tenant. The upstream is polled once per tenant (the refresh), so a
 * hundred subscribers cost it exactly what one does. Served over SSE (Yoga) and graphql-ws (serve.ts).
 */
import { builder } from '../builder.js';
import { DomainError } from '../errors.js';
import { type LeadChangeEvent, leadMatches } from '../index/store.js';
import type { Lead as LeadShape } from '../sources/adapter.js';
import { readyIndex } from './index-access.js';
import { LeadFilter, type LeadFilterInput, toIndexQuery } from './lead-filter.js';
import { Lead } from './refs.js';

/** Changes a subscriber may have waiting; past it (a client that does not read), the subscription ends with an error. */
const MAX_QUEUED = 10_000;

interface ChangeShape {
  readonly kind: LeadChangeEvent['kind'];
  readonly lead: LeadShape;
  readonly at: Date;
  readonly changedFields: readonly string[];
}

const LeadChangeKind = builder.enumType('LeadChangeKind', {
  description: 'What happened to a lead.',
  values: {
    CREATED: { description: 'The lead appeared upstream.' },
    UPDATED: { description: 'Some of its fields changed (see `changedFields`); also sent once when a change takes it out of the filter.' },
    DELETED: { description: 'It was deleted in Kommo (or vanished upstream); `lead` is the last known lead.' },
  } as const,
});

/** The Lead fields a change touches, by their GraphQL names, in schema order. */
const FIELDS: readonly [string, (lead: LeadShape) => unknown][] = [
  ['name', (lead) => lead.name],
  ['price', (lead) => lead.price],
  ['pipeline', (lead) => lead.pipelineId],
  ['status', (lead) => `${lead.pipelineId}:${lead.statusId}`],
  ['responsibleUser', (lead) => lead.responsibleUserId],
  ['createdBy', (lead) => lead.createdById],
  ['updatedBy', (lead) => lead.updatedById],
  ['groupId', (lead) => lead.groupId],
  ['lossReason', (lead) => lead.lossReason?.kommoId ?? null],
  [
    'tags',
    (lead) =>
      lead.tags
        .map((tag) => `${tag.kommoId}:${tag.name}:${tag.color}`)
        .sort()
        .join(','),
  ],
  ['contacts', (lead) => [...lead.contactIds].sort().join(',')],
  ['customFields', (lead) => JSON.stringify(lead.customFields)],
  ['score', (lead) => lead.score],
  ['laborCostSeconds', (lead) => lead.laborCostSeconds],
  ['source', (lead) => lead.source?.kommoId ?? null],
  ['createdAt', (lead) => lead.createdAt.getTime()],
  ['updatedAt', (lead) => lead.updatedAt.getTime()],
  ['closedAt', (lead) => lead.closedAt?.getTime() ?? null],
  ['closestTaskAt', (lead) => lead.closestTaskAt?.getTime() ?? null],
  ['isDeleted', (lead) => lead.isDeleted],
];

export function changedFields(previous: LeadShape | null, lead: LeadShape): string[] {
  if (!previous) return [];
  return FIELDS.filter(([, read]) => read(previous) !== read(lead)).map(([name]) => name);
}

const LeadChange = builder.objectRef<ChangeShape>('LeadChange').implement({
  description: 'A lead created, changed or deleted, as the lead index saw it on a refresh.',
  fields: (t) => ({
    kind: t.field({ type: LeadChangeKind, description: 'What happened.', resolve: (change) => change.kind }),
    lead: t.field({
      type: Lead,
      description: 'The lead as it is now (for DELETED, as it was last known).',
      resolve: (change) => change.lead,
    }),
    at: t.field({
      type: 'DateTime',
      description: 'When the gateway saw the change (the refresh that read it).',
      resolve: (change) => change.at,
    }),
    changedFields: t.stringList({
      description: 'For UPDATED: the names of the Lead fields whose value changed (e.g. price, status, tags); empty otherwise.',
      resolve: (change) => [...change.changedFields],
    }),
  }),
});

builder.subscriptionType({ description: 'Live lead data, pushed as the lead index refreshes (GraphQL over SSE or WebSocket).' });

builder.subscriptionField('leadChanged', (t) =>
  t.field({
    type: LeadChange,
    description:
      "Leads matching the filter that were created, changed or deleted, as the index sees them: each tenant's refresh (every LEADGRAPH_INDEX_REFRESH_SECONDS) is read once and its changes go to every subscriber.",
    args: {
      filter: t.arg({ type: LeadFilter, required: false, description: 'Only changes of leads matching it (before or after the change).' }),
    },
    subscribe: (_root, args, context) => {
      const query = toIndexQuery(args.filter as LeadFilterInput | null | undefined);
      // A change is sent when the lead matches before or after it: a deletion too (the lead matched before).
      const wanted = (lead: LeadShape | null): boolean => lead !== null && query !== null && leadMatches(lead, query);
      // Ended from outside too: a client's `complete` (graphql-ws) calls return(), which an async generator
      // only sees at its next yield; while no change comes it waits, so the wait is woken here.
      let cancelled = false;
      let wakeOuter: (() => void) | null = null;
      const changes = (async function* () {
        if (context.live.draining)
          throw new DomainError('UPSTREAM_UNAVAILABLE', 'The gateway is shutting down: subscribe again to another replica');
        const index = await readyIndex(context, '"leadChanged" is fed by the lead index');
        if (index.watchers >= context.live.maxPerTenant) {
          throw new DomainError(
            'SUBSCRIPTION_LIMIT',
            `This tenant has ${index.watchers} live subscriptions, the most one replica holds (LEADGRAPH_MAX_SUBSCRIPTIONS_PER_TENANT): end one, or share one per screen`,
            { limit: context.live.maxPerTenant },
          );
        }
        const queue: ChangeShape[] = [];
        let wake: (() => void) | null = null;
        let ended = false;
        let overflow = false;
        let dropped = false;
        const stop = index.watch(
          (change, at) => {
            if (!(wanted(change.lead) || wanted(change.previous))) return;
            if (queue.length >= MAX_QUEUED) overflow = true;
            else
              queue.push({
                kind: change.kind,
                lead: change.lead,
                at,
                changedFields: change.kind === 'UPDATED' ? changedFields(change.previous, change.lead) : [],
              });
            wake?.();
          },
          () => {
            dropped = true;
            wake?.();
          },
        );
        const end = (): void => {
          ended = true;
          wake?.();
        };
        wakeOuter = end;
        if (cancelled) end();
        const removeEnd = context.live.add(end);
        context.gone.addEventListener('abort', end, { once: true });
        try {
          while (!ended && !context.gone.aborted) {
            if (queue.length === 0 && !dropped && !overflow && !ended) {
              await new Promise<void>((resolve) => {
                wake = resolve;
              });
              wake = null;
            }
            if (overflow)
              throw new DomainError('SUBSCRIPTION_LIMIT', `More than ${MAX_QUEUED} changes waited for this subscriber: subscribe again`);
            if (dropped) {
              throw new DomainError(
                'INDEX_UNAVAILABLE',
                "This tenant's lead index was dropped (its credentials no longer read it, or the replica holds too many tenants): subscribe again",
              );
            }
            while (queue.length > 0 && !ended) yield queue.shift() as ChangeShape;
          }
        } finally {
          stop();
          removeEnd();
          context.gone.removeEventListener('abort', end);
        }
      })();
      const cancel = (): void => {
        cancelled = true;
        wakeOuter?.();
      };
      const iterator: AsyncIterableIterator<ChangeShape> = {
        [Symbol.asyncIterator]() {
          return iterator;
        },
        next: () => changes.next(),
        return: (value?: unknown) => {
          cancel();
          return changes.return(value as never);
        },
        throw: (error?: unknown) => {
          cancel();
          return changes.throw(error);
        },
      };
      return iterator;
    },
    resolve: (change) => change,
  }),
);
