import { createHash, randomUUID } from 'node:crypto';
import { createInMemoryCache, useResponseCache } from '@graphql-yoga/plugin-response-cache';
import { renderGraphiQL } from '@graphql-yoga/render-graphiql';
import { GraphQLError } from 'graphql';
import { createYoga, maskError, type YogaServerInstance } from 'graphql-yoga';
import type { Logger } from 'pino';
import type { Dispatcher } from 'undici';
import type { Config, V4Credentials } from './config.js';
import { type Context, createContext } from './context.js';
import { DomainError, findDomainError } from './errors.js';
import { memoizeByJson } from './memoize.js';
import { createMetrics, type Metrics } from './metrics.js';
import { useCompiledQueries } from './plugins/jit.js';
import { useQueryLimits } from './plugins/limits.js';
import { useGraphiQLRedirect, useGraphQLMetrics, useReadiness } from './plugins/operations.js';
import { useRequestId } from './plugins/request-id.js';
import { useCachedResultBodies } from './plugins/result-bodies.js';
import { GRAPHQL_PATH } from './routes.js';
import { subgraphSchema } from './schema/index.js';
import { createKommoSource } from './sources/kommo/source.js';
import type { LeadSource } from './sources/source.js';
import { createV4Source } from './sources/v4/source.js';
import { createResponseCache, type ResponseCache } from './transport/cache.js';
import { createRateLimiter } from './transport/limiter.js';
import { createSharedRateLimiter, createSharedStore } from './transport/shared.js';
import { createUpstream, kommoTenant, type Tenant, v4Tenant } from './transport/upstream.js';

export const EXAMPLE_QUERY = `# Welcome to leadgraph: Kommo leads as GraphQL.
# Run with the pink button or Ctrl-Enter.
# Docs for every type and field: the book icon, left.
# Next page: put {"after": "<endCursor>"} in Variables.
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
  /** Wraps the V4 source of each request (tests inject failures the transport cannot). */
  readonly wrapSource?: ((source: LeadSource) => LeadSource) | undefined;
  /** Metrics registry (default: a new one). */
  readonly metrics?: Metrics | undefined;
}

export interface Gateway {
  readonly yoga: YogaServerInstance<Record<string, unknown>, Context>;
  readonly metrics: Metrics;
  readonly cache: ResponseCache;
  /** Marks the gateway as shutting down: readiness turns 503. */
  drain(): void;
  /** Releases what the gateway holds open (the Redis connection). */
  close(): Promise<void>;
}

const CREDENTIAL_HEADERS = { clientId: 'x-client-id', clientSecret: 'x-client-secret', workspaceId: 'x-workspace-id' } as const;

/** The upstream credentials of one request: the server's, or (multi-tenant mode) the request's own headers, never a mix. */
function credentialsFor(config: Config, request: Request): V4Credentials {
  if (!config.credentialsFromRequest) {
    if (!config.v4Credentials) throw new Error('no V4 credentials configured');
    return config.v4Credentials;
  }
  const read = (header: string): string | null => {
    const value = request.headers.get(header)?.trim();
    return value && value.length <= 512 && !/[\r\n]/.test(value) ? value : null;
  };
  const values = {
    clientId: read(CREDENTIAL_HEADERS.clientId),
    clientSecret: read(CREDENTIAL_HEADERS.clientSecret),
    workspaceId: read(CREDENTIAL_HEADERS.workspaceId),
  };
  const missing = (Object.keys(values) as (keyof typeof values)[])
    .filter((key) => values[key] === null)
    .map((key) => CREDENTIAL_HEADERS[key]);
  if (missing.length > 0) {
    throw new DomainError('UNAUTHENTICATED', `This gateway takes upstream credentials from each request: send ${missing.join(', ')}`, {
      missingHeaders: missing,
      http: { status: 401 },
    });
  }
  return values as V4Credentials;
}

/** Expected failures (domain errors) go out as they are; anything else is masked by Yoga and logged. */
function maskUnexpected(error: unknown, message: string, isDev?: boolean): Error {
  const domain = findDomainError(error);
  if (domain)
    return error instanceof Error && error !== domain ? error : new GraphQLError(domain.message, { extensions: domain.extensions });
  return maskError(error, message, isDev);
}

/** Builds the gateway app; it never listens itself (main.ts and tests do). */
export function createGateway(config: Config, deps: GatewayDeps): Gateway {
  const metrics = deps.metrics ?? createMetrics();
  const cache = createResponseCache({ maxBytes: config.cacheMaxMb * 1024 * 1024 });
  const kommo = config.api === 'kommo';
  // The windows carry a margin: the upstream counts arrivals, and network jitter must not make a
  // budget of exactly its limit look like one call too many.
  const budget = kommo
    ? { limit: config.kommoRatePerSecond, windowMs: 1_100, maxWaitMs: config.rateMaxWaitMs }
    : { limit: config.v4RatePerMinute, windowMs: 61_000, maxWaitMs: config.rateMaxWaitMs };
  const shared = config.redisUrl
    ? createSharedStore({
        url: config.redisUrl,
        timeoutMs: config.redisTimeoutMs,
        maxValueBytes: config.redisMaxValueKb * 1024,
        logger: deps.logger,
        metrics,
      })
    : null;
  // With Redis, the budget is shared; while Redis is down, each replica keeps to a conservative share.
  const limiter = shared
    ? createSharedRateLimiter(
        shared,
        budget,
        createRateLimiter({ ...budget, limit: Math.max(1, Math.floor(budget.limit / config.expectedReplicas)) }),
      )
    : createRateLimiter(budget);
  const upstream = createUpstream({
    baseUrl: kommo ? (config.kommoBaseUrl as string) : config.v4ApiUrl,
    upstreamName: kommo ? 'Kommo API' : 'V4 API',
    dispatcher: deps.dispatcher,
    timeoutMs: config.upstreamTimeoutMs,
    retries: config.upstreamRetries,
    backoffMs: config.retryBackoffMs,
    // The windows carry a margin: the upstream counts arrivals, and network jitter must not make a
    // budget of exactly its limit look like one call too many.
    limiter,
    budgetVariable: kommo ? 'LEADGRAPH_KOMMO_RATE_PER_SEC' : 'LEADGRAPH_V4_RATE_PER_MIN',
    maxWaitMs: config.rateMaxWaitMs,
    cache,
    ttlMs: { leads: config.cacheTtlLeadsSeconds * 1000, reference: config.cacheTtlReferenceSeconds * 1000 },
    metrics,
    shared: shared ?? undefined,
    sharedLockMs: config.upstreamTimeoutMs,
  });
  const settings = {
    defaultPageSize: config.defaultPageSize,
    maxPageSize: config.maxPageSize,
    leadLookupConcurrency: config.leadLookupConcurrency,
  };
  const { logger } = deps;
  const requestId = useRequestId();
  let draining = false;
  const responseTtlMs = Math.min(config.cacheTtlLeadsSeconds, config.cacheTtlReferenceSeconds) * 1000;
  // One tenant in single-tenant mode: its hashed keys are computed once, not per request.
  const serverTenant = kommo
    ? kommoTenant(config.kommoBaseUrl as string, config.kommoToken as string)
    : config.v4Credentials
      ? v4Tenant(config.v4ApiUrl, config.v4Credentials)
      : null;
  const tenantOf = (request: Request): { tenant: Tenant; workspaceId: string | null } => {
    if (kommo) return { tenant: serverTenant as Tenant, workspaceId: null };
    const credentials = credentialsFor(config, request);
    const tenant = serverTenant && credentials === config.v4Credentials ? serverTenant : v4Tenant(config.v4ApiUrl, credentials);
    return { tenant, workspaceId: credentials.workspaceId };
  };
  const sourceFor = (request: Request, requestLogger: Logger): LeadSource => {
    const { tenant, workspaceId } = tenantOf(request);
    const transport = upstream.transport(tenant, requestLogger);
    if (kommo) return createKommoSource({ transport, blockSize: config.upstreamPageSize });
    return createV4Source({
      transport,
      workspaceId: workspaceId as string,
      integrationId: config.v4IntegrationId,
      organizationId: config.v4OrganizationId,
      blockSize: config.upstreamPageSize,
    });
  };

  const yoga = createYoga<Record<string, unknown>, Context>({
    // The subgraph schema: the client contract plus `_service` and `_entities` for a federation gateway.
    schema: subgraphSchema,
    graphqlEndpoint: GRAPHQL_PATH,
    landingPage: false,
    // The body limit is LEADGRAPH_MAX_BODY_BYTES, enforced by useQueryLimits without re-streaming every body.
    maxRequestBodySize: false,
    context: ({ request }) => {
      const requestLogger = logger.child({ requestId: requestId.idOf(request) });
      const signal = AbortSignal.any([request.signal, AbortSignal.timeout(config.requestTimeoutMs)]);
      const source = sourceFor(request, requestLogger);
      return createContext(deps.wrapSource ? deps.wrapSource(source) : source, settings, signal);
    },
    graphiql: { title: 'leadgraph', defaultQuery: EXAMPLE_QUERY },
    // The page inlines GraphiQL's whole bundle (~9 MB): render it once, not on every visit.
    renderGraphiQL: memoizeByJson(renderGraphiQL, 8),
    maskedErrors: { maskError: maskUnexpected },
    // Order matters where a plugin ends a request or an execution early (the hooks after it do not run):
    // the routes answer before any GraphQL work; the limits refuse before the metrics and compiled
    // execution see an execution (a refused query is neither counted nor compiled). The response cache
    // answers a hit from the request's params, before any of them.
    plugins: [
      // Echoes the id on every response, the early ones (413, /ready) included.
      requestId,
      useGraphiQLRedirect(),
      useReadiness(
        () => !draining,
        () => (shared ? (shared.up ? 'up' : 'down') : 'off'),
      ),
      useQueryLimits({
        maxDepth: config.maxDepth,
        maxAliases: config.maxAliases,
        maxTokens: config.maxTokens,
        maxCost: config.maxCost,
        maxBodyBytes: config.maxBodyBytes,
        defaultPageSize: config.defaultPageSize,
        maxPageSize: config.maxPageSize,
      }),
      useGraphQLMetrics(metrics),
      ...(config.jit ? [useCompiledQueries(logger)] : []),
      useCachedResultBodies(),
      useResponseCache({
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
        cache: createInMemoryCache({ max: Math.max(1, config.responseCacheEntries) }),
        idFields: [],
        // The tenant is always part of the key. Hashed synchronously (the default awaits WebCrypto on every
        // request); the key doubles as the ETag, so it must be a header-safe token.
        buildResponseCacheKey: ({ sessionId, operationName, documentString, variableValues }) =>
          createHash('sha256')
            .update(`${sessionId ?? ''}\u0000${operationName ?? ''}\u0000${documentString}\u0000${JSON.stringify(variableValues ?? {})}`)
            .digest('hex'),
        invalidateViaMutation: false,
        includeExtensionMetadata: false,
        shouldCacheResult: ({ result }) => !result.errors,
      }),
    ],
    logging: {
      debug: (...args) => logger.debug(args.map(String).join(' ')),
      info: (...args) => logger.info(args.map(String).join(' ')),
      warn: (...args) => logger.warn(args.map(String).join(' ')),
      error: (...args) =>
        logger.error(
          { err: args.find((arg) => arg instanceof Error) },
          args
            .filter((arg) => !(arg instanceof Error))
            .map(String)
            .join(' '),
        ),
    },
  });
  return {
    yoga,
    metrics,
    cache,
    drain: () => {
      draining = true;
    },
    close: async () => {
      await shared?.close();
    },
  };
}
