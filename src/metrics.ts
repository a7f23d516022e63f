import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

/** The gateway's Prometheus metrics, in a registry of its own (several gateways may share a process). */
export interface Metrics {
  readonly registry: Registry;
  readonly operations: Counter<'operation_type' | 'outcome'>;
  readonly upstreamCalls: Counter<'endpoint' | 'status'>;
  readonly upstreamDuration: Histogram<'endpoint'>;
  readonly upstreamRetries: Counter<'endpoint'>;
  /** Requests refused by the call plan (`plan`) and calls refused past a request's allowance (`execution`). */
  readonly callLimit: Counter<'stage'>;
  readonly cacheLookups: Counter<'class' | 'outcome'>;
  readonly cacheBytes: Gauge;
  readonly limiterWaits: Counter;
  readonly limiterWaitSeconds: Histogram;
  readonly limiterRejections: Counter;
  readonly redisUp: Gauge;
  readonly trustedDocuments: Counter<'document_id'>;
  readonly trustedDocumentRefusals: Counter<'reason'>;
}

export function createMetrics(): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'leadgraph_' });
  const registers = [registry];
  return {
    registry,
    operations: new Counter({
      name: 'leadgraph_graphql_operations_total',
      help: 'GraphQL operations executed, by type and outcome (ok, error: the response has errors).',
      labelNames: ['operation_type', 'outcome'],
      registers,
    }),
    upstreamCalls: new Counter({
      name: 'leadgraph_upstream_calls_total',
      help: 'Upstream HTTP calls (each attempt), by endpoint and HTTP status (or network / timeout).',
      labelNames: ['endpoint', 'status'],
      registers,
    }),
    upstreamDuration: new Histogram({
      name: 'leadgraph_upstream_call_duration_seconds',
      help: 'Duration of upstream HTTP calls (each attempt).',
      labelNames: ['endpoint'],
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    }),
    upstreamRetries: new Counter({
      name: 'leadgraph_upstream_retries_total',
      help: 'Upstream calls retried after a network error, timeout, 5xx or 429.',
      labelNames: ['endpoint'],
      registers,
    }),
    callLimit: new Counter({
      name: 'leadgraph_upstream_call_limit_total',
      help: 'UPSTREAM_CALL_LIMIT: requests refused before any call by their estimate (stage="plan"), and calls refused past a request allowance while it ran (stage="execution").',
      labelNames: ['stage'],
      registers,
    }),
    cacheLookups: new Counter({
      name: 'leadgraph_cache_lookups_total',
      help: 'Upstream cache lookups by class (leads, reference) and outcome (hit, miss, coalesced).',
      labelNames: ['class', 'outcome'],
      registers,
    }),
    cacheBytes: new Gauge({ name: 'leadgraph_cache_bytes', help: 'Bytes held by the upstream cache.', registers }),
    limiterWaits: new Counter({
      name: 'leadgraph_limiter_waits_total',
      help: 'Upstream calls that waited for a slot of the client-side rate budget.',
      registers,
    }),
    limiterWaitSeconds: new Histogram({
      name: 'leadgraph_limiter_wait_seconds',
      help: 'Time upstream calls waited for a rate budget slot.',
      buckets: [0.01, 0.1, 0.5, 1, 2, 5, 10, 30],
      registers,
    }),
    limiterRejections: new Counter({
      name: 'leadgraph_limiter_rejections_total',
      help: 'Upstream calls refused because the rate budget had no slot within the maximum wait.',
      registers,
    }),
    redisUp: new Gauge({
      name: 'leadgraph_redis_up',
      help: '1 while the shared Redis store answers; 0 while the gateway falls back to local state, or runs without LEADGRAPH_REDIS_URL.',
      registers,
    }),
    trustedDocuments: new Counter({
      name: 'leadgraph_trusted_document_requests_total',
      help: 'Requests that named a trusted document by its id, by id (ids from the manifests only: bounded).',
      labelNames: ['document_id'],
      registers,
    }),
    trustedDocumentRefusals: new Counter({
      name: 'leadgraph_trusted_document_refusals_total',
      help: 'Requests refused by the trusted documents: not_found (an id no manifest holds), not_trusted (a document sent while only trusted ones run).',
      labelNames: ['reason'],
      registers,
    }),
  };
}
