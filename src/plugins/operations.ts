/**
 * Operations endpoints beside /graphql: `/` redirects to GraphiQL, `/ready` is Yoga's readiness check,
 * `/metrics` and the GraphQL phase timings are @graphql-yoga/plugin-prometheus over our registry. The
 * operations counter stays ours: the plugin's request counter has no outcome label, and labels the
 * operation type from the document's first definition whatever `operationName` selects.
 */

import { usePrometheus } from '@graphql-yoga/plugin-prometheus';
import { getOperationAST } from 'graphql';
import { type Plugin, useReadinessCheck } from 'graphql-yoga';
import type { IndexStatus } from '../index/registry.js';
import type { Metrics } from '../metrics.js';
import { GRAPHQL_PATH, METRICS_PATH, READY_PATH } from '../routes.js';

/** `/` sends a browser to GraphiQL. */
export function useGraphiQLRedirect(): Plugin {
  return {
    onRequest({ request, url, endResponse, fetchAPI }) {
      if ((request.method === 'GET' || request.method === 'HEAD') && url.pathname === '/') {
        endResponse(new fetchAPI.Response(null, { status: 302, headers: { location: GRAPHQL_PATH } }));
      }
    },
  };
}

export interface ReadinessSources {
  /** `starting` until the warm-up is done, `draining` once shutting down: both 503. */
  readonly state: () => 'starting' | 'ready' | 'draining';
  readonly redisState: () => 'up' | 'down' | 'off';
  readonly breakerState?: (() => 'open' | 'closed' | undefined) | undefined;
  readonly indexState?: (() => IndexStatus) | undefined;
}

/**
 * `/ready`: `{status, redis, breaker?, index?}`, 503 while starting (warming up) or draining. Redis down is
 * degraded, not unready: the replica still serves from local state; so is an index still reading.
 */
export function useReadiness(sources: ReadinessSources): Plugin {
  const readiness = useReadinessCheck({
    endpoint: READY_PATH,
    check: ({ fetchAPI }) => {
      const status = sources.state();
      // A cooling account is degraded, not unready: cached answers and other accounts still work.
      const breaker = sources.breakerState?.();
      const index = sources.indexState?.();
      const body = { status, redis: sources.redisState(), ...(breaker ? { breaker } : {}), ...(index ? { index } : {}) };
      return fetchAPI.Response.json(body, { status: status === 'ready' ? 200 : 503 });
    },
  });
  return {
    ...readiness,
    // Alone, it also tests a URLPattern on every other request (~6 µs, a tenth of a response-cache hit).
    onRequest: (payload) => (payload.url.pathname === READY_PATH ? readiness.onRequest?.(payload) : undefined),
  };
}

/** `/metrics`: the plugin's parse, validate and execute timings and error counts by phase, and our operations counter. */
export function useGraphQLMetrics(metrics: Metrics): Plugin {
  return {
    onPluginInit({ addPlugin }) {
      addPlugin(
        usePrometheus({
          registry: metrics.registry,
          endpoint: METRICS_PATH,
          metrics: {
            graphql_envelop_phase_parse: true,
            graphql_envelop_phase_validate: true,
            graphql_envelop_phase_execute: true,
            graphql_envelop_error_result: true,
            // Counted by leadgraph_graphql_operations_total, with the outcome.
            graphql_envelop_request: false,
            // Both time the execute phase again; the context one starts its clock when the context is built.
            graphql_envelop_request_duration: false,
            graphql_envelop_request_time_summary: false,
            graphql_envelop_phase_context: false,
            // No subscriptions, no deprecated fields (the check visits every document), one schema.
            graphql_envelop_phase_subscribe: false,
            graphql_envelop_deprecated_field: false,
            graphql_envelop_schema_change: false,
            // Its `url` label is the whole URL, a GET query's text included: one series per query.
            graphql_yoga_http_duration: false,
          },
          // Operation names are the client's choice (one series each, unbounded), error paths carry list
          // indices, and the type is read from the document's first definition (and is always a query here).
          labels: { operationName: false, operationType: false, path: false },
        }),
      );
    },
    onExecute({ args }) {
      const type = getOperationAST(args.document, args.operationName)?.operation ?? 'unknown';
      return {
        onExecuteDone({ result }) {
          const failed = 'errors' in result && Array.isArray(result.errors) && result.errors.length > 0;
          metrics.operations.inc({ operation_type: type, outcome: failed ? 'error' : 'ok' });
        },
      };
    },
  };
}

/**
 * A subscription asked for over plain HTTP without `Accept: text/event-stream`: Yoga finds no way to
 * stream it and answers a bare 406. This says why, in a GraphQL error body, and ends the subscription
 * it would otherwise leave behind.
 */
export function useSubscriptionTransportHint(): Plugin {
  return {
    onResultProcess({ result, resultProcessor, setResultProcessor }) {
      if (resultProcessor || !(Symbol.asyncIterator in Object(result))) return;
      void (result as AsyncIterable<unknown>)[Symbol.asyncIterator]().return?.();
      setResultProcessor(
        (_result, fetchAPI) =>
          new fetchAPI.Response(
            JSON.stringify({
              errors: [
                {
                  message:
                    'A subscription streams its results: send it with Accept: text/event-stream (GraphQL over SSE), or over a WebSocket to /graphql (graphql-ws)',
                  extensions: { code: 'BAD_REQUEST' },
                },
              ],
            }),
            { status: 406, headers: { 'content-type': 'application/json; charset=utf-8' } },
          ),
        'application/json',
      );
    },
  };
}
