/**
 * A small typed GraphQL client on plain `fetch`: what a frontend needs against leadgraph, in one file.
 * Documents come from graphql-codegen (src/gql/), so variables and results are typed by the operation.
 * With `byId`, a document goes as its trusted-document id (`documentId`, the hash codegen embedded),
 * which is all a gateway running LEADGRAPH_TRUSTED_DOCUMENTS_ONLY accepts; with `method: 'GET'`, the
 * browser's HTTP cache can keep the answer (`Cache-Control: private, max-age`) and revalidate it.
 */
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { type DocumentNode, print } from 'graphql';

export interface ClientOptions {
  /** The gateway's GraphQL endpoint, e.g. http://127.0.0.1:4000/graphql. */
  readonly url: string;
  /** Send the trusted-document id instead of the text (default false). */
  readonly byId?: boolean;
  /** GET (cacheable, needs the CSRF header this client sends) or POST (default). */
  readonly method?: 'GET' | 'POST';
  /** Extra headers on every request (e.g. the multi-tenant credentials). */
  readonly headers?: Readonly<Record<string, string>>;
  readonly fetch?: typeof fetch;
}

export interface GraphQLErrorShape {
  readonly message: string;
  readonly path?: readonly (string | number)[];
  readonly extensions?: { readonly code?: string } & Readonly<Record<string, unknown>>;
}

/** The answer of an operation: typed data, and the errors of the parts that failed (a nested lookup, say). */
export interface Answer<R> {
  readonly data: R;
  readonly errors: readonly GraphQLErrorShape[];
}

/** The request failed as a whole: no data, only errors (their `extensions.code` says why) or an HTTP failure. */
export class GraphQLRequestError extends Error {
  readonly status: number;
  readonly errors: readonly GraphQLErrorShape[];
  constructor(status: number, errors: readonly GraphQLErrorShape[]) {
    super(errors.map((error) => `${error.extensions?.code ?? 'ERROR'}: ${error.message}`).join('; ') || `HTTP ${status}`);
    this.name = 'GraphQLRequestError';
    this.status = status;
    this.errors = errors;
  }
  get codes(): string[] {
    return this.errors.map((error) => error.extensions?.code ?? 'ERROR');
  }
}

/** Variables are optional exactly when the operation has no required ones. */
type VariablesArgument<V> = Record<string, never> extends V ? [variables?: V] : [variables: V];

export type Execute = <R, V>(document: TypedDocumentNode<R, V>, ...variables: VariablesArgument<V>) => Promise<Answer<R>>;

/** The trusted-document id codegen embedded (`persistedDocuments: true`); null for a document without one. */
const documentIdOf = (document: object): string | null => (document as { __meta__?: { hash?: string } }).__meta__?.hash ?? null;

export function createClient(options: ClientOptions): Execute {
  const send = options.fetch ?? fetch;
  const texts = new WeakMap<object, string>();
  const textOf = (document: DocumentNode): string => {
    let text = texts.get(document);
    if (text === undefined) {
      text = print(document);
      texts.set(document, text);
    }
    return text;
  };
  return async (document, ...[variables]) => {
    const id = options.byId ? documentIdOf(document) : null;
    if (options.byId && id === null) throw new Error('byId: this document has no id (codegen with persistedDocuments: true)');
    const params: Record<string, unknown> = id ? { documentId: id } : { query: textOf(document) };
    if (variables !== undefined) params.variables = variables;
    // Ask for the GraphQL-over-HTTP media type: a refused request is then a 4xx, not a 200.
    const headers: Record<string, string> = { accept: 'application/graphql-response+json, application/json;q=0.9', ...options.headers };
    let response: Response;
    if (options.method === 'GET') {
      const query = new URLSearchParams(
        Object.entries(params).map(([name, value]) => [name, typeof value === 'string' ? value : JSON.stringify(value)]),
      );
      // A GET must carry a header only a script can set (the gateway's CSRF rule).
      response = await send(`${options.url}?${query}`, { headers: { ...headers, 'x-graphql-yoga-csrf': '1' } });
    } else {
      response = await send(options.url, {
        method: 'POST',
        headers: { ...headers, 'content-type': 'application/json' },
        body: JSON.stringify(params),
      });
    }
    const body = (await response.json().catch(() => ({}))) as { data?: unknown; errors?: GraphQLErrorShape[] };
    const errors = body.errors ?? [];
    if (body.data === undefined || body.data === null) throw new GraphQLRequestError(response.status, errors);
    return { data: body.data as never, errors };
  };
}
