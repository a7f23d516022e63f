/** The gateway's HTTP routes. Yoga itself answers `/health`. */

/** Where GraphQL (and GraphiQL) is served; `/` redirects there. */
export const GRAPHQL_PATH = '/graphql';
/** Prometheus metrics of the gateway's registry. */
export const METRICS_PATH = '/metrics';
/** Readiness: 503 while the gateway drains. */
export const READY_PATH = '/ready';
