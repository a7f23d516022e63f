import { renderGraphiQL } from '@graphql-yoga/render-graphiql';
import { GraphQLError } from 'graphql';
import { createYoga, maskError, type Plugin, type YogaServerInstance } from 'graphql-yoga';
import type { Logger } from 'pino';
import type { Dispatcher } from 'undici';
import type { Config } from './config.js';
import { type Context, createContext } from './context.js';
import { findDomainError } from './errors.js';
import { subgraphSchema } from './schema/index.js';
import type { LeadSource } from './sources/source.js';
import { createV4Source } from './sources/v4/source.js';
import { createHttpTransport } from './transport/http.js';

export const GRAPHQL_PATH = '/graphql';

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
  /** Called after every upstream call (tests count with it). */
  readonly onUpstreamCall?: ((call: { endpoint: string; status: number; durationMs: number }) => void) | undefined;
  /** A ready source instead of the V4 source the config describes (tests). */
  readonly source?: LeadSource | undefined;
}

export interface Gateway {
  readonly yoga: YogaServerInstance<Record<string, unknown>, Context>;
  readonly source: LeadSource;
}

/** The V4 source a config describes (the config must carry credentials: main.ts fills them in demo mode). */
export function createSourceFromConfig(config: Config, deps: GatewayDeps): LeadSource {
  const credentials = config.v4Credentials;
  if (!credentials) throw new Error('createSourceFromConfig needs V4 credentials');
  const transport = createHttpTransport({
    baseUrl: config.v4ApiUrl,
    headers: { 'x-client-id': credentials.clientId, 'x-client-secret': credentials.clientSecret },
    dispatcher: deps.dispatcher,
    timeoutMs: config.upstreamTimeoutMs,
    secrets: [credentials.clientSecret],
    upstreamName: 'V4 API',
    logger: deps.logger,
    onCall: deps.onUpstreamCall,
  });
  return createV4Source({
    transport,
    workspaceId: credentials.workspaceId,
    integrationId: config.v4IntegrationId,
    organizationId: config.v4OrganizationId,
    blockSize: config.upstreamPageSize,
  });
}

/**
 * Expected failures (domain errors) go out as they are: message and `extensions.code` (graphql-js
 * copied the domain error's extensions). Anything else is masked by Yoga and logged.
 */
function maskUnexpected(error: unknown, message: string, isDev?: boolean): Error {
  const domain = findDomainError(error);
  if (domain)
    return error instanceof Error && error !== domain ? error : new GraphQLError(domain.message, { extensions: domain.extensions });
  return maskError(error, message, isDev);
}

/** `/` sends a browser to GraphiQL (Yoga itself answers `/health`). */
function useRootRedirect(): Plugin {
  return {
    onRequest({ request, url, endResponse, fetchAPI }) {
      if (request.method !== 'GET' && request.method !== 'HEAD') return;
      if (url.pathname === '/') {
        endResponse(new fetchAPI.Response(null, { status: 302, headers: { location: GRAPHQL_PATH } }));
      }
    },
  };
}

/** Builds the gateway app; it never listens itself (main.ts and tests do). */
export function createGateway(config: Config, deps: GatewayDeps): Gateway {
  const source = deps.source ?? createSourceFromConfig(config, deps);
  const settings = {
    defaultPageSize: config.defaultPageSize,
    maxPageSize: config.maxPageSize,
    leadLookupConcurrency: config.leadLookupConcurrency,
  };
  const { logger } = deps;
  const yoga = createYoga<Record<string, unknown>, Context>({
    // The subgraph schema: the client contract plus `_service` and `_entities` for a federation gateway.
    schema: subgraphSchema,
    graphqlEndpoint: GRAPHQL_PATH,
    landingPage: false,
    context: ({ request }) => createContext(source, settings, request.signal),
    graphiql: { title: 'leadgraph', defaultQuery: EXAMPLE_QUERY },
    renderGraphiQL,
    maskedErrors: { maskError: maskUnexpected },
    plugins: [useRootRedirect()],
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
  return { yoga, source };
}
