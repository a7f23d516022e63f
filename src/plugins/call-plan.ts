/**
 * The call plan as a Yoga plugin: before a request executes, its upstream calls are estimated
 * (src/plan.ts); over LEADGRAPH_MAX_UPSTREAM_CALLS_PER_REQUEST it is refused with
 * UPSTREAM_CALL_LIMIT, the estimate and the limit, before any call. Placed after the query limits,
 * whose cost rule bounds the document the plan walks.
 */
import { GraphQLError } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import type { Context } from '../context.js';
import { type ErrorCode, findDomainError } from '../errors.js';
import { type CallPlan, type PlanInput, planCalls } from '../plan.js';

export interface CallPlanOptions {
  readonly defaultPageSize: number;
  readonly maxPageSize: number;
  /** Argument checks the resolvers make, made first (see PlanInput.check). */
  readonly check?: PlanInput['check'];
  /** Called on each refusal (metrics). */
  readonly onRefused?: (() => void) | undefined;
}

export function useCallPlan(options: CallPlanOptions): Plugin<Context> {
  return {
    async onExecute({ args, setResultAndStopExecution }) {
      const context = args.contextValue as Context;
      const plan = (check?: PlanInput['check']): CallPlan =>
        planCalls({
          schema: args.schema,
          document: args.document,
          operationName: args.operationName,
          variables: args.variableValues,
          source: context.adapter,
          sizes: context.sizes,
          defaultPageSize: options.defaultPageSize,
          maxPageSize: options.maxPageSize,
          check,
          served: {
            leads: context.index !== null,
            pipelines: !!context.index?.tables,
            users: !!context.index?.tables?.users,
          },
        });
      // The arguments are checked as the resolvers would, in the same walk: a bad one is BAD_USER_INPUT
      // and costs nothing (no read to learn a size, no call that the refusal would throw away).
      let estimate: CallPlan;
      try {
        estimate = plan(options.check);
      } catch (error) {
        const domain = findDomainError(error);
        if (!domain) throw error;
        setResultAndStopExecution({ errors: [new GraphQLError(domain.message, { extensions: domain.extensions })] });
        return;
      }
      if (estimate.needs.size > 0) {
        // Reads the request makes anyway (memoized in its context): a failure surfaces where execution needs the table.
        await Promise.allSettled([...estimate.needs].map((fact) => context.learn(fact)));
        estimate = plan();
      }
      const { limit } = context.allowance;
      context.allowance.estimate = estimate.calls;
      if (estimate.calls <= limit) return;
      options.onRefused?.();
      setResultAndStopExecution({
        errors: [
          new GraphQLError(
            `This request would cause about ${estimate.calls} upstream calls; one request may cause at most ${limit} (LEADGRAPH_MAX_UPSTREAM_CALLS_PER_REQUEST). Ask for fewer nested lists, smaller pages or fewer entities per request, or split it`,
            {
              extensions: {
                code: 'UPSTREAM_CALL_LIMIT' satisfies ErrorCode,
                // As the query limits: a request refused before it runs is a 400 under application/graphql-response+json.
                http: { status: 400, spec: true },
                estimate: estimate.calls,
                limit,
                plan: { leadBlocks: estimate.blocks, leadLookups: estimate.leadIds, tables: estimate.tables },
              },
            },
          ),
        ],
      });
    },
  };
}
