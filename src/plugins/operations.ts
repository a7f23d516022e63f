/** Operations endpoints and per-operation metrics: routes next to /graphql, counters, the request id header. */
import { type DefinitionNode, Kind, type OperationDefinitionNode } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import type { Metrics } from '../metrics.js';
import { GRAPHQL_PATH } from '../routes.js';

/** `/` sends a browser to GraphiQL; `/metrics` and `/ready` for operations (Yoga itself answers `/health`). */
export function useOperationsRoutes(metrics: Metrics, isReady: () => boolean, redisState: () => 'up' | 'down' | 'off'): Plugin {
  return {
    // Not async: a GraphQL POST passes straight through, without a promise to wait for.
    onRequest({ request, url, endResponse, fetchAPI }) {
      if (request.method !== 'GET' && request.method !== 'HEAD') return;
      if (url.pathname === '/') {
        endResponse(new fetchAPI.Response(null, { status: 302, headers: { location: GRAPHQL_PATH } }));
      } else if (url.pathname === '/metrics') {
        return metrics.registry.metrics().then((text) => {
          endResponse(new fetchAPI.Response(text, { headers: { 'content-type': metrics.registry.contentType } }));
        });
      } else if (url.pathname === '/ready') {
        // Redis down is degraded, not unready: the replica still serves from local state.
        const ready = isReady();
        endResponse(fetchAPI.Response.json({ status: ready ? 'ready' : 'draining', redis: redisState() }, { status: ready ? 200 : 503 }));
      }
    },
  };
}

/** Counts operations by type and outcome, and echoes the request id. */
export function useOperationMetrics(metrics: Metrics, requestIds: WeakMap<Request, string>): Plugin {
  return {
    onExecute({ args }) {
      const operation = args.document.definitions.find(
        (definition: DefinitionNode): definition is OperationDefinitionNode => definition.kind === Kind.OPERATION_DEFINITION,
      );
      const type = operation?.operation ?? 'unknown';
      return {
        onExecuteDone({ result }) {
          const failed = 'errors' in result && Array.isArray(result.errors) && result.errors.length > 0;
          metrics.operations.inc({ operation_type: type, outcome: failed ? 'error' : 'ok' });
        },
      };
    },
    onResponse({ request, response }) {
      const id = requestIds.get(request);
      if (id) response.headers.set('x-request-id', id);
    },
  };
}
