import { createHash, randomUUID } from 'node:crypto';
import type { Server as HttpServer, RequestListener } from 'node:http';
import { useResponseCache } from '@graphql-yoga/plugin-response-cache';
import { GraphQLError, getOperationAST, parse } from 'graphql';
import { createYoga, maskError, type YogaServerInstance } from 'graphql-yoga';
import type { Logger } from 'pino';
import { Gauge } from 'prom-client';
import type { Dispatcher } from 'undici';
import { clientKeyOf } from './clients.js';
import type { Config } from './config.js';
import { type Context, createContext, type LiveSubscriptions } from './context.js';
import { requestEnded, requestSignal } from './deadline.js';
import { findDomainError } from './errors.js';
import { createIndexRegistry, type IndexRegistry } from './index/registry.js';
import { createIndexShare } from './index/shared.js';
import { createMetrics, type Metrics } from './metrics.js';
import { corsFor, hostRefusals, isLoopbackAddress, originAllowed, useCsrfPrevention } from './plugins/browsers.js';
import { useCallPlan } from './plugins/call-plan.js';
import { useClientErrorLog } from './plugins/client-errors.js';
import { createGraphiQLPage } from './plugins/graphiql.js';
import { useInputGuard } from './plugins/input-guard.js';
import { useCompiledQueries } from './plugins/jit.js';
import { useQueryLimits } from './plugins/limits.js';
import { useGraphiQLRedirect, useGraphQLMetrics, useReadiness, useSubscriptionTransportHint } from './plugins/operations.js';
import { ANY_DOCUMENT_HEADER, anyDocumentGate, useTrustedDocuments } from './plugins/persisted-documents.js';
import { REQUEST_ID_HEADER, requestIdFor } from './plugins/request-id.js';
import { createResponseStore, type ResponseStore } from './plugins/response-store.js';
import { useCachedResultBodies } from './plugins/result-bodies.js';
import { GRAPHQL_PATH } from './routes.js';
import { checkArguments, subgraphSchema } from './schema/index.js';
import type { LeadAdapter } from './sources/adapter.js';
import type { RequestTenant } from './sources/profile.js';
import { profileOf } from './sources/profiles.js';
import { createTenantFacts } from './tenant-facts.js';
import type { UpstreamCache } from './transport/cache.js';
import type { CallAllowance, CallScope } from './transport/call.js';
import { createTransport } from './transport/create.js';
import { attachWebSockets, type WebSockets } from './websockets.js';

export const EXAMPLE_QUERY = `# Welcome to leadgraph: Kommo leads as GraphQL.
# Run with the pink button or Ctrl-Enter.
# Docs for every type and field: the book icon, left.
# Next page: put {"after": "<endCursor>"} in Variables.
# Sorted, searched, counted (the lead index, no upstream call): try
#   leads(first: 10, filter: { search: "a" }, orderBy: { field: PRICE, direction: DESC })
#   leadStats { count totalPrice groups(by: STATUS) { key count totalPrice status { name } } }
# and live changes: subscription { leadChanged { kind changedFields lead { kommoId name price } } }
query FirstLeads($after: String) {
  leads(first: 10, after: $after) {
    totalCountUpperBound
    pageInfo {
      hasNextPage
      endCursor
    }
    edges {
      node {
        kommoId
        name
        price
        createdAt
        pipeline { name }
        status { name kind }
        responsibleUser { name email }
        tags { name color }
      }
    }
  }
}
`;

export interface GatewayDeps {
  readonly dispatcher: Dispatcher;
  readonly logger: Logger;
  /** Wraps the source adapter of each request (tests inject failures the transport cannot). */
  readonly wrapAdapter?: ((adapter: LeadAdapter) => LeadAdapter) | undefined;
}

export interface Gateway {
  readonly yoga: YogaServerInstance<Record<string, unknown>, Context>;
  /** The Node request listener to serve: Yoga, behind a check that the Host header can form a URL at all. */
  readonly listener: RequestListener;
  readonly metrics: Metrics;
  readonly cache: UpstreamCache;
  /** Whole responses kept by the response cache (bounded by LEADGRAPH_RESPONSE_CACHE_MB). */
  readonly responses: ResponseStore;
  /** Marks the gateway as shutting down: readiness turns 503, and every response closes its connection. */
  drain(): void;
  /** Requests being answered right now (the shutdown waits for them). */
  readonly inFlight: number;
  /** Serves GraphQL over WebSocket (graphql-ws) on this server's `/graphql` too; closed with `close`. */
  attachWebSockets(server: HttpServer): void;
  /** The tenants' lead indexes (none when LEADGRAPH_INDEX=off). */
  readonly indexes: IndexRegistry;
  /**
   * Gets ready to answer fast (serve.ts calls it once it listens, and /ready answers 503 until it is done):
   * in single-tenant mode, waits for the lead index's first read (at most `maxWaitMs`), then runs a
   * few representative queries, which opens the upstream connections and lets V8 optimize the hot path.
   */
  warmUp(maxWaitMs: number): Promise<void>;
  /** Releases what the gateway holds open (the Redis connection, the index schedules). */
  close(): Promise<void>;
}

/** What the listener hands Yoga as server context. */
interface ServerContext {
  readonly requestId?: string;
  readonly remoteAddress?: string | undefined;
  /** A signal aborted when the response has gone out or its connection closed (made on first ask): the request's upstream calls still in flight are cancelled. */
  readonly ended?: () => AbortSignal;
  /** When the request came in (performance.now()): its deadline counts from then. */
  readonly arrivedAt?: number;
}

/** The id the listener gave the request (server context); a UUID for one that came in through `yoga.fetch`. */
const requestIdOf = (context: object): string => requestIdFor((context as ServerContext).requestId);

/** The tenant part of a response-cache key and ETag: the start of the session id, itself a hash (the tenant's cache key). */
const tenantPrefix = (sessionId: string): string => sessionId.slice(0, 16);

/**
 * Yoga's response cache without its early 304: it answers an If-None-Match naming a stored key before
 * anything runs, whoever asks and whatever the entry holds now. The 304 comes from useCachedResultBodies,
 * against the ETag of the answer the requesting tenant gets.
 */
function useResponseCacheWithoutEarly304(options: Parameters<typeof useResponseCache>[0]) {
  const { onRequest: _dropped, ...plugin } = useResponseCache(options);
  return plugin;
}

/**
 * Expected failures (domain errors) go out as they are; anything else is masked by Yoga and logged. In
 * multi-tenant mode an upstream 401 is the request's own credentials failing: HTTP 401, like UNAUTHENTICATED.
 */
const maskUnexpected =
  (multiTenant: boolean) =>
  (error: unknown, message: string, isDev?: boolean): Error => {
    const domain = findDomainError(error);
    if (domain) {
      const out = error instanceof Error && error !== domain ? error : new GraphQLError(domain.message, { extensions: domain.extensions });
      if (multiTenant && domain.code === 'UPSTREAM_UNAUTHORIZED' && out instanceof GraphQLError) {
        (out.extensions as Record<string, unknown>).http = { status: 401 };
      }
      return out;
    }
    // graphql-js reports variables that do not coerce without a code: they are the client's bad input. Marked on
    // the error itself: Yoga logs every error its mask replaces as unexpected.
    if (error instanceof GraphQLError && error.extensions.code === undefined && error.message.startsWith('Variable "$')) {
      (error.extensions as Record<string, unknown>).code = 'BAD_USER_INPUT';
      return error;
    }
    return maskError(error, message, isDev);
  };

/**
 * Whether the operation a request runs is a subscription. Parsed only when the word appears at all (a
 * query's request pays a regular expression); a document that does not parse runs nothing anyway.
 */
function isSubscription(query: unknown, operationName: unknown): boolean {
  if (typeof query !== 'string' || !/\bsubscription\b/.test(query)) return false;
  try {
    return getOperationAST(parse(query), typeof operationName === 'string' ? operationName : undefined)?.operation === 'subscription';
  } catch {
    return false;
  }
}

/** Builds the gateway app; it never listens itself (main.ts and tests do). */
export function createGateway(config: Config, deps: GatewayDeps): Gateway {
  const metrics = createMetrics();
  const source = profileOf(config.source).connect(config.source, {
    blockSize: config.upstreamPageSize,
    lookupConcurrency: config.leadLookupConcurrency,
  });
  const transport = createTransport(config, source, { dispatcher: deps.dispatcher, logger: deps.logger, metrics });
  const settings = { defaultPageSize: config.defaultPageSize, maxPageSize: config.maxPageSize };
  const { logger } = deps;
  let draining = false;
  let inFlight = 0;
  const responseTtlMs = Math.min(config.cacheTtlLeadsSeconds, config.cacheTtlReferenceSeconds) * 1000;
  // The response cache and the context both need a request's tenant; in multi-tenant mode deriving it
  // hashes the secret, so it is derived once per request.
  const tenants = new WeakMap<Request, RequestTenant>();
  const tenantOf = (request: Request): RequestTenant => {
    let found = tenants.get(request);
    if (!found) {
      found = source.tenantOf(request);
      tenants.set(request, found);
    }
    return found;
  };
  const tablesRefreshMs = Math.max(60, config.cacheTtlReferenceSeconds) * 1000;
  // Replicas sharing Redis read each tenant's upstream once: one leads, the others replay its passes.
  const share = transport.shared ? createIndexShare({ store: transport.shared, config: config.index, tablesRefreshMs }) : undefined;
  const indexes = createIndexRegistry({
    config: config.index,
    upstream: transport.upstream,
    logger,
    registry: metrics.registry,
    multiTenant: source.multiTenant,
    isAccepted: (key) => transport.upstream.isAccepted(key),
    tablesRefreshMs,
    share,
  });
  let warming = false;
  const sockets: WebSockets[] = [];
  const liveEnds = new Set<() => void>();
  new Gauge({
    name: 'leadgraph_subscriptions_live',
    help: 'Live leadChanged subscriptions on this replica (SSE and WebSocket).',
    registers: [metrics.registry],
    collect() {
      this.set(liveEnds.size);
    },
  });
  const live: LiveSubscriptions = {
    maxPerTenant: config.maxSubscriptionsPerTenant,
    get draining() {
      return draining;
    },
    add(end) {
      liveEnds.add(end);
      return () => liveEnds.delete(end);
    },
  };
  // Table sizes per tenant, for the call plan: as long as the reference tables are cached, at least an hour.
  const facts = createTenantFacts({ maxTenants: 10_000, ttlMs: Math.max(3600, config.cacheTtlReferenceSeconds) * 1000 });

  const responses = createResponseStore({
    maxEntries: Math.max(1, config.responseCacheEntries),
    maxBytes: config.responseCacheMb * 1024 * 1024,
  });
  const browserPolicy = {
    corsOrigins: config.corsOrigins,
    allowLocalOrigins: config.upstream === 'demo',
    allowedHosts: isLoopbackAddress(config.host) ? config.allowedHosts : null,
  };
  const hostRefusal = hostRefusals(browserPolicy);
  const allowOrigin = originAllowed(browserPolicy);
  const mayRunAnyDocument = anyDocumentGate(config.anyDocumentToken);
  const compression = config.compression ? { minBytes: config.compressionMinBytes } : null;
  const graphiqlPage = createGraphiQLPage({ compression });
  const vary = [
    'Accept',
    ...(config.compression ? ['Accept-Encoding'] : []),
    ...(source.tenantHeaders ?? []),
    ...(config.anyDocumentToken ? [ANY_DOCUMENT_HEADER] : []),
  ].join(', ');
  const varyWithOrigin = `Origin, ${vary}`;
  const yoga = createYoga<Record<string, unknown>, Context>({
    // The subgraph schema: the client contract plus `_service` and `_entities` for a federation gateway.
    schema: subgraphSchema,
    graphqlEndpoint: GRAPHQL_PATH,
    landingPage: false,
    cors: corsFor(browserPolicy),
    // The body limit is LEADGRAPH_MAX_BODY_BYTES, enforced by useQueryLimits without re-streaming every body.
    maxRequestBodySize: false,
    // A trusted document's id, in the body of a POST (the GraphQL-over-HTTP persisted documents draft).
    extraParamNames: ['documentId'],
    context: (initialContext) => {
      const { request } = initialContext;
      const requestLogger = logger.child({ requestId: requestIdOf(initialContext) });
      const { tenant, createAdapter } = tenantOf(request);
      const { remoteAddress: address, ended, arrivedAt } = initialContext as ServerContext;
      const allowance: CallAllowance = { limit: config.maxUpstreamCallsPerRequest, spent: 0 };
      const scope: CallScope = { client: clientKeyOf(tenant.label, request.headers, address), priority: 'client', address, allowance };
      const adapter = createAdapter(transport.upstream.transport(tenant, requestLogger, scope));
      const indexing = {
        enabled: config.index.enabled,
        waitMs: config.index.waitMs,
        current: () => indexes.of(tenant, createAdapter),
      };
      const ends = ended ? [request.signal, ended()] : [request.signal];
      // A subscription lives as long as its client: the request deadline would cut the calls its events
      // may need (a user the index has no table for) after 30 s. Its calls keep their own timeouts.
      const params = (initialContext as { params?: { query?: unknown; operationName?: unknown } }).params;
      // Only a subscription needs a signal without the deadline: a query's context makes none (its `gone` is its signal).
      const gone = isSubscription(params?.query, params?.operationName)
        ? ends.length === 1
          ? request.signal
          : AbortSignal.any(ends)
        : undefined;
      return createContext(
        deps.wrapAdapter ? deps.wrapAdapter(adapter) : adapter,
        settings,
        gone ? { signal: gone, deadline: gone } : requestSignal(ends, config.requestTimeoutMs, arrivedAt),
        {
          gone,
          live,
          sizes: facts.of(tenant.cacheKey),
          allowance,
          indexing,
        },
      );
    },
    graphiql: { title: 'leadgraph', defaultQuery: EXAMPLE_QUERY },
    // A small page; GraphiQL's 9 MB bundle comes as cacheable, compressed assets (src/plugins/graphiql.ts).
    renderGraphiQL: graphiqlPage.render,
    maskedErrors: { maskError: maskUnexpected(source.multiTenant) },
    // Order matters where a plugin ends a request or an execution early (the hooks after it do not run):
    // the routes answer before any GraphQL work; the limits refuse before the metrics and compiled
    // execution see an execution (a refused query is neither counted nor compiled). The response cache
    // answers a hit from the request's params, before any of them.
    plugins: [
      useGraphiQLRedirect(),
      graphiqlPage.plugin,
      useClientErrorLog(logger, requestIdOf),
      // Before the response cache and the limits: their keys and rules recurse into what this refuses.
      useInputGuard(),
      // A request a browser sends cross-site without a preflight (a form post, multipart, a GET) must
      // carry a header only a script can set; JSON posts are preflighted anyway.
      useCsrfPrevention(),
      // Before the response cache and the limits: they read the document an id names.
      useTrustedDocuments({
        documents: config.persistedDocuments?.documents ?? new Map(),
        only: config.trustedDocumentsOnly,
        anyDocumentToken: config.anyDocumentToken,
        metrics,
      }),
      useReadiness({
        state: () => (draining ? 'draining' : warming ? 'starting' : 'ready'),
        redisState: transport.redisState,
        breakerState: transport.breakerState,
        indexState: () => indexes.status(),
      }),
      useQueryLimits({
        maxDepth: config.maxDepth,
        maxAliases: config.maxAliases,
        maxTokens: config.maxTokens,
        maxCost: config.maxCost,
        maxBodyBytes: config.maxBodyBytes,
        defaultPageSize: config.defaultPageSize,
        maxPageSize: config.maxPageSize,
      }),
      // After the limits: their cost rule bounds the document the plan walks. Before the metrics, like them.
      useCallPlan({
        defaultPageSize: config.defaultPageSize,
        maxPageSize: config.maxPageSize,
        check: checkArguments(settings),
        onRefused: () => metrics.callLimit.inc({ stage: 'plan' }),
      }),
      useGraphQLMetrics(metrics),
      ...(config.jit ? [useCompiledQueries(logger)] : []),
      // ETag, If-None-Match and Cache-Control of the requesting tenant's own answer, and its compressed bytes.
      useCachedResultBodies({
        validFor: (cacheKey) => responses.remainingMs(cacheKey),
        compression,
      }),
      useResponseCacheWithoutEarly304({
        // Identical queries of one tenant within the cache TTLs get the same answer without executing:
        // keyed by the tenant (credential + workspace), never shared across tenants, errors never cached.
        enabled: () => responseTtlMs > 0 && config.responseCacheEntries > 0,
        session: (request) => {
          try {
            return tenantOf(request).tenant.cacheKey;
          } catch {
            return `unauthenticated:${randomUUID()}`; // never shared; the request fails in the context anyway
          }
        },
        ttl: responseTtlMs,
        cache: responses,
        idFields: [],
        // The tenant is always part of the key. Hashed synchronously (the default awaits WebCrypto on every
        // request); the key doubles as the ETag, so it must be a header-safe token.
        buildResponseCacheKey: ({ sessionId, operationName, documentString, variableValues }) =>
          `${tenantPrefix(sessionId ?? '')}-${createHash('sha256')
            .update(`${sessionId ?? ''}\u0000${operationName ?? ''}\u0000${documentString}\u0000${JSON.stringify(variableValues ?? {})}`)
            .digest('hex')}`,
        invalidateViaMutation: false,
        includeExtensionMetadata: false,
        shouldCacheResult: ({ result }) => !result.errors,
      }),
      // Last: it answers only when no result processor took the result (a subscription without SSE).
      useSubscriptionTransportHint(),
    ],
    logging: {
      debug: (...args) => logger.debug(args.map(String).join(' ')),
      info: (...args) => logger.info(args.map(String).join(' ')),
      warn: (...args) => logger.warn(args.map(String).join(' ')),
      error: (...args) => {
        const err = args.find((arg) => arg instanceof Error);
        const message = args
          .filter((arg) => !(arg instanceof Error))
          .map(String)
          .join(' ');
        // A domain error (e.g. UNAUTHENTICATED from the context) is an expected outcome: useClientErrorLog reports it.
        const domain = findDomainError(err);
        if (domain) logger.debug({ code: domain.code }, message || 'expected error');
        else logger.error({ err }, message);
      },
    },
  });
  return {
    yoga,
    // Plain Node, before Yoga: what every response needs costs nothing per plugin hook on the warm path.
    listener: (request, response) => {
      const arrivedAt = performance.now();
      inFlight += 1;
      // A response can go out while calls of its request are still in flight (a failed batch, a field
      // nulled by an error below it): nothing waits for them any more, so they are cancelled. Made only
      // for a request that builds a context: a warm answer from the response cache pays nothing for it.
      let ended: AbortController | undefined;
      response.once('close', () => {
        inFlight -= 1;
        ended?.abort(requestEnded());
      });
      const endedSignal = (): AbortSignal => {
        ended ??= new AbortController();
        if (response.closed) ended.abort(requestEnded());
        return ended.signal;
      };
      const requestId = requestIdFor(request.headers[REQUEST_ID_HEADER]);
      response.setHeader(REQUEST_ID_HEADER, requestId);
      // While draining, no connection is kept alive for a next request: idle ones cannot hold the exit.
      if (draining) response.setHeader('connection', 'close');
      // Nothing is cached unless the answer says so (result-bodies.ts, graphiql.ts).
      response.setHeader('cache-control', 'no-store');
      // Every header an answer depends on: the origin (CORS headers or none), the media type, the content
      // coding, the tenant's credentials. Set here only, so no later header replaces part of it.
      response.setHeader('vary', request.headers.origin === undefined ? vary : varyWithOrigin);
      // First: a request to a foreign Host (DNS rebinding), or one no URL can be built from, runs nothing.
      const refusal = hostRefusal(request.headers.host);
      if (refusal) {
        response.writeHead(refusal.status, { 'content-type': 'text/plain; charset=utf-8', connection: 'close' }).end(refusal.body);
        return;
      }
      void yoga(request, response, {
        requestId,
        remoteAddress: request.socket.remoteAddress,
        ended: endedSignal,
        arrivedAt,
      } satisfies ServerContext);
    },
    metrics,
    cache: transport.cache,
    responses,
    get inFlight() {
      return inFlight;
    },
    drain: () => {
      draining = true;
      // Live subscriptions end now (their streams complete): clients reconnect, to another replica.
      for (const end of [...liveEnds]) end();
      for (const socket of sockets) void socket.close();
    },
    indexes,
    attachWebSockets(server) {
      sockets.push(
        attachWebSockets(server, yoga, {
          maxPayloadBytes: config.maxBodyBytes,
          credentialHeaders: source.tenantHeaders ?? [],
          refuseHost: (host) => hostRefusal(host),
          draining: () => draining,
          originAllowed: (origin) => allowOrigin(origin),
          trusted: {
            only: config.trustedDocumentsOnly,
            documents: config.persistedDocuments?.documents ?? new Map(),
            mayRunAny: (request) => mayRunAnyDocument(request),
          },
        }),
      );
    },
    async warmUp(maxWaitMs) {
      warming = true;
      try {
        await warmGateway(yoga, indexes, maxWaitMs, source.multiTenant ? null : tenantOf, logger);
      } finally {
        warming = false;
      }
    },
    close: async () => {
      await Promise.all(sockets.map((socket) => socket.close()));
      indexes.close();
      // The locks this replica held go back before the connection closes: another replica takes over at once.
      await share?.close();
      await transport.close();
    },
  };
}

/**
 * What a dashboard asks first: a page of leads with its pipeline, stage, user, tags and custom fields
 * (every resolver of such a page runs, so none meets its first call on a client's request).
 */
const WARM_UP_QUERY = `query WarmUp($first: Int) { leads(first: $first) { totalCount dataAsOf pageInfo { hasNextPage endCursor }
  edges { cursor node { id kommoId name price createdAt updatedAt closedAt isDeleted pipeline { id name } status { id name kind }
  responsibleUser { id name email } tags { kommoId name color } customFields { fieldId name values { value enumId } } } } } }`;
/** Executions of it at start: enough for V8 to optimize the path (graphql-jit compiles after a few). */
const WARM_UP_RUNS = 40;

async function warmGateway(
  yoga: YogaServerInstance<Record<string, unknown>, Context>,
  indexes: IndexRegistry,
  maxWaitMs: number,
  tenantOf: ((request: Request) => RequestTenant) | null,
  logger: Logger,
): Promise<void> {
  // Multi-tenant mode: no tenant is known before the first request; nothing to warm with.
  if (!tenantOf) return;
  const started = performance.now();
  const probe = new Request('http://127.0.0.1/graphql');
  let index: ReturnType<IndexRegistry['of']> = null;
  try {
    const { tenant, createAdapter } = tenantOf(probe);
    index = indexes.of(tenant, createAdapter);
  } catch {
    return;
  }
  if (index) await index.whenReady(maxWaitMs);
  // Distinct page sizes: each one executes (the response cache would answer a repeat). With the index off,
  // the first costs what any first page costs upstream; the others come from the upstream cache.
  for (let run = 0; run < WARM_UP_RUNS; run += 1) {
    const response = await yoga.fetch('http://127.0.0.1/graphql', {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'graphql-client-name': 'leadgraph-warm-up' },
      body: JSON.stringify({ query: WARM_UP_QUERY, variables: { first: 1 + (run % 50) } }),
    });
    await response.text();
    if (performance.now() - started > maxWaitMs + 10_000) break;
  }
  logger.info(
    { ms: Math.round(performance.now() - started), index: index ? index.state : 'off' },
    'warmed up: the upstream connections are open and the hot path is compiled',
  );
}
