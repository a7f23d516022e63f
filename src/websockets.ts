/**
 * GraphQL over WebSocket (the graphql-ws protocol, which Apollo Client and urql speak) on the same
 * `/graphql` path as HTTP, for subscriptions: each operation runs through the gateway's Yoga plugins
 * (limits, the call plan, the context with its tenant) as an HTTP request would. A request's
 * credentials come from the upgrade request's headers or, as browsers cannot set those on a
 * WebSocket, from the `connection_init` payload (the same header names).
 */
import type { IncomingMessage, Server } from 'node:http';
import { type ExecutionArgs, GraphQLError } from 'graphql';
import { useServer } from 'graphql-ws/use/ws';
import type { YogaServerInstance } from 'graphql-yoga';
import { WebSocketServer } from 'ws';
import type { Context } from './context.js';
import { findDomainError } from './errors.js';
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
}

export interface WebSockets {
  /** Closes every socket (1001, going away) and stops accepting. */
  close(): Promise<void>;
}

/** How often a socket is pinged (graphql-ws's keep-alive), so that proxies do not close idle ones. */
const KEEP_ALIVE_MS = 12_000;

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
        const request = requestOf(ctx.extra.request, ctx.connectionParams, options.credentialHeaders, controller.signal);
        const { schema, execute, subscribe, contextFactory, parse, validate } = yoga.getEnveloped({
          request,
          remoteAddress: ctx.extra.request.socket.remoteAddress,
        });
        const document = parse(payload.query);
        const errors = validate(schema, document);
        if (errors.length > 0) return errors;
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
