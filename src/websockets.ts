/**
 * GraphQL over WebSocket (the graphql-ws protocol, which Apollo Client and urql speak) on the same
 * `/graphql` path as HTTP, for subscriptions: each operation runs through the gateway's Yoga plugins
 * (limits, the call plan, the context with its tenant) as an HTTP request would. A request's
 * credentials come from the upgrade request's headers or, as browsers cannot set those on a
 * WebSocket, from the `connection_init` payload (the same header names).
 */
import type { IncomingMessage, Server } from 'node:http';
import { type DocumentNode, type ExecutionArgs, GraphQLError, getOperationAST } from 'graphql';
import { useServer } from 'graphql-ws/use/ws';
import type { YogaServerInstance } from 'graphql-yoga';
import { WebSocketServer } from 'ws';
import type { Context } from './context.js';
import { findDomainError } from './errors.js';
import { paramsProblem } from './plugins/input-guard.js';
import { ANY_DOCUMENT_HEADER } from './plugins/persisted-documents.js';
import { GRAPHQL_PATH } from './routes.js';

export interface WebSocketOptions {
  /** Largest message a client may send, in bytes (LEADGRAPH_MAX_BODY_BYTES). */
  readonly maxPayloadBytes: number;
  /** Header names a client may also send in `connection_init` (the tenant's credentials). */
  readonly credentialHeaders: readonly string[];
  /** The Host check of the HTTP listener (DNS rebinding): a refused Host gets no socket. */
  readonly refuseHost: (host: string | undefined) => unknown;
  /** Whether the gateway is draining: no new socket then. */
  readonly draining: () => boolean;
  /**
   * Whether a browser page of this origin may open a socket: the CORS policy's origins (browsers apply
   * no CORS to WebSockets, so without this any page could read the leads). No Origin: not a browser.
   */
  readonly originAllowed: (origin: string) => boolean;
  /** Trusted documents, as over HTTP: a document must be one of the manifests' unless the request may run any. */
  readonly trusted: {
    readonly only: boolean;
    readonly documents: ReadonlyMap<string, string>;
    readonly mayRunAny: (request: Request) => boolean;
  };
}

export interface WebSockets {
  /** Closes every socket (1001, going away) and stops accepting. */
  close(): Promise<void>;
}

/** How often a socket is pinged (graphql-ws's keep-alive), so that proxies do not close idle ones. */
const KEEP_ALIVE_MS = 12_000;

/** A page the gateway itself served (GraphiQL): its origin names the host the socket is opened on. */
function sameOrigin(origin: string, host: string | undefined): boolean {
  try {
    return host !== undefined && new URL(origin).host === host.toLowerCase();
  } catch {
    return false;
  }
}

const refusal = (code: string, message: string): GraphQLError => new GraphQLError(message, { extensions: { code } });

/** Whether a document is, character for character, one of the trusted documents. */
const trustedSets = new WeakMap<ReadonlyMap<string, string>, ReadonlySet<string>>();
function isTrusted(query: string, documents: ReadonlyMap<string, string>): boolean {
  let texts = trustedSets.get(documents);
  if (!texts) {
    texts = new Set(documents.values());
    trustedSets.set(documents, texts);
  }
  return texts.has(query);
}

/** A Fetch Request standing for the upgrade request: the headers the context reads, aborted when the socket closes. */
function requestOf(
  upgrade: IncomingMessage,
  params: Record<string, unknown> | undefined,
  allowed: readonly string[],
  signal: AbortSignal,
): Request {
  const headers = new Headers();
  for (const [name, value] of Object.entries(upgrade.headers)) {
    if (typeof value === 'string') headers.set(name, value);
  }
  for (const name of allowed) {
    const value = params?.[name];
    if (typeof value === 'string' && !headers.has(name)) headers.set(name, value);
  }
  return new Request(`http://127.0.0.1${GRAPHQL_PATH}`, { method: 'POST', headers, signal });
}

export function attachWebSockets(
  server: Server,
  yoga: YogaServerInstance<Record<string, unknown>, Context>,
  options: WebSocketOptions,
): WebSockets {
  const sockets = new WebSocketServer({ noServer: true, maxPayload: options.maxPayloadBytes });
  server.on('upgrade', (request, socket, head) => {
    const path = (request.url ?? '').split('?')[0];
    if (path !== GRAPHQL_PATH || options.draining() || options.refuseHost(request.headers.host)) {
      socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
      return;
    }
    const origin = request.headers.origin;
    if (origin !== undefined && !sameOrigin(origin, request.headers.host) && !options.originAllowed(origin)) {
      socket.end('HTTP/1.1 403 Forbidden\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
      return;
    }
    sockets.handleUpgrade(request, socket, head, (ws) => sockets.emit('connection', ws, request));
  });
  const closers = new WeakMap<object, AbortController>();
  const disposable = useServer<Record<string, unknown> | undefined>(
    {
      execute: (args) => (args.rootValue as { execute: (a: ExecutionArgs) => unknown }).execute(args) as never,
      subscribe: (args) => (args.rootValue as { subscribe: (a: ExecutionArgs) => unknown }).subscribe(args) as never,
      onConnect: (ctx) => {
        const controller = new AbortController();
        closers.set(ctx.extra.socket, controller);
        ctx.extra.socket.once('close', () => controller.abort(new DOMException('The socket closed', 'AbortError')));
        return true;
      },
      onSubscribe: async (ctx, _id, payload) => {
        const controller = closers.get(ctx.extra.socket) ?? new AbortController();
        const request = requestOf(
          ctx.extra.request,
          ctx.connectionParams,
          [...options.credentialHeaders, ANY_DOCUMENT_HEADER],
          controller.signal,
        );
        // What the HTTP path checks before any GraphQL work (the input guard, trusted documents).
        const problem = paramsProblem(payload);
        if (problem) return [refusal('BAD_USER_INPUT', problem)];
        if (options.trusted.only && !options.trusted.mayRunAny(request) && !isTrusted(payload.query, options.trusted.documents)) {
          return [
            refusal(
              'PERSISTED_QUERY_ONLY',
              'This gateway runs trusted documents only (LEADGRAPH_TRUSTED_DOCUMENTS_ONLY): subscribe with a document of its manifests',
            ),
          ];
        }
        const { schema, execute, subscribe, contextFactory, parse, validate } = yoga.getEnveloped({
          request,
          params: payload,
          remoteAddress: ctx.extra.request.socket.remoteAddress,
        });
        let document: DocumentNode;
        try {
          document = parse(payload.query);
        } catch (error) {
          return [error instanceof GraphQLError ? error : refusal('GRAPHQL_PARSE_FAILED', 'The document does not parse')];
        }
        const errors = validate(schema, document);
        if (errors.length > 0) return errors;
        // Queries and mutations go over HTTP, where the response cache, ETags and the rest apply.
        if (getOperationAST(document, payload.operationName)?.operation !== 'subscription') {
          return [refusal('BAD_REQUEST', 'Over WebSocket this gateway runs subscriptions only: send queries to POST /graphql')];
        }
        let contextValue: unknown;
        try {
          contextValue = await contextFactory();
        } catch (error) {
          // Missing or refused credentials: an error message for the operation, not a broken socket.
          const domain = findDomainError(error);
          if (!domain) throw error;
          return [new GraphQLError(domain.message, { extensions: domain.extensions })];
        }
        const args: ExecutionArgs = {
          schema,
          document,
          operationName: payload.operationName,
          variableValues: payload.variables,
          contextValue,
          rootValue: { execute, subscribe },
        };
        return args;
      },
    },
    sockets,
    KEEP_ALIVE_MS,
  );
  let closing: Promise<void> | undefined;
  return {
    close() {
      closing ??= (async () => {
        for (const client of sockets.clients) client.close(1001, 'The gateway is shutting down');
        await Promise.resolve(disposable.dispose()).catch(() => undefined); // already closed: nothing left to do
      })();
      return closing;
    },
  };
}
