import { createHash, randomUUID } from 'node:crypto';
import { createInMemoryCache, useResponseCache } from '@graphql-yoga/plugin-response-cache';
import { renderGraphiQL } from '@graphql-yoga/render-graphiql';
import { GraphQLError } from 'graphql';
import { createYoga, maskError, type YogaServerInstance } from 'graphql-yoga';
import type { Logger } from 'pino';
import type { Dispatcher } from 'undici';
import type { Config } from './config.js';
import { type Context, createContext } from './context.js';
import { requestSignal } from './deadline.js';
import { findDomainError } from './errors.js';
import { createMetrics, type Metrics } from './metrics.js';
import { corsFor, isLoopbackAddress, useHostCheck } from './plugins/browsers.js';
import { useCompiledQueries } from './plugins/jit.js';
import { useQueryLimits } from './plugins/limits.js';
import { GRAPHQL_PATH, useOperationMetrics, useOperationsRoutes } from './plugins/operations.js';
import { useCachedResultBodies } from './plugins/result-bodies.js';
import { subgraphSchema } from './schema/index.js';
import type { LeadAdapter } from './sources/adapter.js';
import { profileOf } from './sources/profiles.js';
import type { UpstreamCache } from './transport/cache.js';
import { createTransport } from './transport/create.js';

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
  /** Wraps the source adapter of each request (tests inject failures the transport cannot). */
  readonly wrapAdapter?: ((adapter: LeadAdapter) => LeadAdapter) | undefined;
}

export interface Gateway {
  readonly yoga: YogaServerInstance<Record<string, unknown>, Context>;
  readonly metrics: Metrics;
  readonly cache: UpstreamCache;
  /** Marks the gateway as shutting down: readiness turns 503. */
  drain(): void;
  /** Releases what the gateway holds open (the Redis connection). */
  close(): Promise<void>;
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,64}$/;

/** Expected failures (domain errors) go out as they are; anything else is masked by Yoga and logged. */
function maskUnexpected(error: unknown, message: string, isDev?: boolean): Error {
  const domain = findDomainError(error);
  if (domain)
    return error instanceof Error && error !== domain ? error : new GraphQLError(domain.message, { extensions: domain.extensions });
  return maskError(error, message, isDev);
}

/** Memoizes a function of a JSON-serializable argument (one entry per distinct argument). */
function memoizeByJson<A, R>(render: (argument: A) => R): (argument: A) => R {
  const rendered = new Map<string, R>();
  return (argument) => {
    const key = JSON.stringify(argument) ?? '';
    let result = rendered.get(key);
    if (result === undefined) {
      result = render(argument);
      if (rendered.size >= 8) rendered.clear();
      rendered.set(key, result);
    }
    return result;
  };
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
  const requestIds = new WeakMap<Request, string>();
  let draining = false;
  const responseTtlMs = Math.min(config.cacheTtlLeadsSeconds, config.cacheTtlReferenceSeconds) * 1000;
  const adapterFor = (request: Request, requestLogger: Logger): LeadAdapter => {
    const { tenant, createAdapter } = source.tenantOf(request);
    return createAdapter(transport.upstream.transport(tenant, requestLogger));
  };

  const browserPolicy = {
    corsOrigins: config.corsOrigins,
    allowLocalOrigins: config.upstream === 'demo',
    allowedHosts: isLoopbackAddress(config.host) ? config.allowedHosts : null,
  };
  const yoga = createYoga<Record<string, unknown>, Context>({
    // The subgraph schema: the client contract plus `_service` and `_entities` for a federation gateway.
    schema: subgraphSchema,
    graphqlEndpoint: GRAPHQL_PATH,
    landingPage: false,
    cors: corsFor(browserPolicy),
    // The body limit is LEADGRAPH_MAX_BODY_BYTES, enforced by useQueryLimits without re-streaming every body.
    maxRequestBodySize: false,
    context: ({ request }) => {
      const given = request.headers.get('x-request-id');
      const requestId = given && REQUEST_ID.test(given) ? given : randomUUID();
      requestIds.set(request, requestId);
      const requestLogger = logger.child({ requestId });
      const adapter = adapterFor(request, requestLogger);
      return createContext(
        deps.wrapAdapter ? deps.wrapAdapter(adapter) : adapter,
        settings,
        requestSignal(request.signal, config.requestTimeoutMs),
      );
    },
    graphiql: { title: 'leadgraph', defaultQuery: EXAMPLE_QUERY },
    // The page inlines GraphiQL's whole bundle (~9 MB): render it once, not on every visit.
    renderGraphiQL: memoizeByJson(renderGraphiQL),
    maskedErrors: { maskError: maskUnexpected },
    plugins: [
      // First: a request to a foreign Host (DNS rebinding) is refused before anything else runs.
      useHostCheck(browserPolicy),
      useOperationsRoutes(metrics, () => !draining, transport.redisState),
      useQueryLimits({
        maxDepth: config.maxDepth,
        maxAliases: config.maxAliases,
        maxTokens: config.maxTokens,
        maxCost: config.maxCost,
        maxBodyBytes: config.maxBodyBytes,
        defaultPageSize: config.defaultPageSize,
        maxPageSize: config.maxPageSize,
      }),
      useOperationMetrics(metrics, requestIds),
      ...(config.jit ? [useCompiledQueries(logger)] : []),
      useCachedResultBodies(),
      useResponseCache({
        // Identical queries of one tenant within the cache TTLs get the same answer without executing:
        // keyed by the tenant (credential + workspace), never shared across tenants, errors never cached.
        enabled: () => responseTtlMs > 0 && config.responseCacheEntries > 0,
        session: (request) => {
          try {
            return source.tenantOf(request).tenant.cacheKey;
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
    cache: transport.cache,
    drain: () => {
      draining = true;
    },
    close: () => transport.close(),
  };
}
