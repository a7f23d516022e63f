/**
 * Trusted documents on Yoga's persisted-operations plugin: a client sends `documentId` (POST body or GET
 * query string; `sha256:<hash>` or the bare hash) or Apollo's `extensions.persistedQuery.sha256Hash`
 * instead of the query, and the gateway runs the document its manifests hold for it. With
 * `LEADGRAPH_TRUSTED_DOCUMENTS_ONLY`, any other document is refused (`PERSISTED_QUERY_ONLY`), except from
 * a request carrying `x-leadgraph-any-document: <LEADGRAPH_ANY_DOCUMENT_TOKEN>` (GraphiQL for the team).
 * Ours: the id extraction (the plugin reads Apollo's extension only, and Yoga's GET parser drops
 * `documentId`), the error codes and the metrics.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { defaultExtractPersistedOperationId, usePersistedOperations } from '@graphql-yoga/plugin-persisted-operations';
import { GraphQLError } from 'graphql';
import type { GraphQLParams, Plugin } from 'graphql-yoga';
import type { ErrorCode } from '../errors.js';
import type { Metrics } from '../metrics.js';
import { documentIdKey } from '../persisted-documents.js';

/** The header that lets a request send any document while only trusted ones run. */
export const ANY_DOCUMENT_HEADER = 'x-leadgraph-any-document';

export interface TrustedDocumentsOptions {
  /** Document text by id (empty: no manifest loaded, every id is unknown). */
  readonly documents: ReadonlyMap<string, string>;
  /** Refuse documents that are not in the manifests. */
  readonly only: boolean;
  /** With `only`: the secret that lets a request send any document; null lets none. */
  readonly anyDocumentToken: string | null;
  readonly metrics: Metrics;
}

/** The id a request names: `documentId` in a POST body or a GET query string, else Apollo's sha256Hash extension. */
function documentIdOf(params: GraphQLParams, request: Request): string | null {
  const given = (params as { documentId?: unknown }).documentId;
  if (typeof given === 'string') return given;
  if (request.method === 'GET') {
    const fromUrl = new URL(request.url).searchParams.get('documentId');
    if (fromUrl) return fromUrl;
  }
  return defaultExtractPersistedOperationId(params, request, {});
}

const refusal = (code: ErrorCode, message: string) => new GraphQLError(message, { extensions: { code, http: { status: 400 } } });

const digest = (text: string): Buffer => createHash('sha256').update(text).digest();

/** Whether a request carries the any-document token (LEADGRAPH_ANY_DOCUMENT_TOKEN) in its header. */
export function anyDocumentGate(token: string | null): (request: Request) => boolean {
  const tokenDigest = token === null ? null : digest(token);
  return (request) => {
    const given = request.headers.get(ANY_DOCUMENT_HEADER);
    // Compared as digests, in constant time: the header never decides by how much of the secret it matched.
    return tokenDigest !== null && given !== null && timingSafeEqual(digest(given), tokenDigest);
  };
}

export function useTrustedDocuments(options: TrustedDocumentsOptions): Plugin {
  const { documents, metrics } = options;
  const hasToken = anyDocumentGate(options.anyDocumentToken);
  const mayRunAnyDocument = (request: Request): boolean => !options.only || hasToken(request);
  return {
    onPluginInit({ addPlugin }) {
      addPlugin(
        usePersistedOperations({
          extractPersistedOperationId: documentIdOf,
          getPersistedOperation: (id) => {
            const document = documents.get(documentIdKey(id));
            if (document !== undefined) metrics.trustedDocuments.inc({ document_id: documentIdKey(id) });
            return document ?? null;
          },
          allowArbitraryOperations: mayRunAnyDocument,
          customErrors: {
            notFound: ({ params, request }) => {
              metrics.trustedDocumentRefusals.inc({ reason: 'not_found' });
              const id = documentIdOf(params, request) ?? '';
              return refusal(
                'PERSISTED_QUERY_NOT_FOUND',
                `No trusted document has the id ${JSON.stringify(id.slice(0, 80))}: it is not in the manifests this gateway loaded (LEADGRAPH_PERSISTED_DOCUMENTS); rebuild the client's manifest and load it`,
              );
            },
            persistedQueryOnly: () => {
              metrics.trustedDocumentRefusals.inc({ reason: 'not_trusted' });
              return refusal(
                'PERSISTED_QUERY_ONLY',
                'This gateway runs trusted documents only (LEADGRAPH_TRUSTED_DOCUMENTS_ONLY): send the documentId of a document in its manifests instead of the query',
              );
            },
            // Neither a query nor an id: what Yoga itself answers to a request without a query.
            keyNotFound: () =>
              new GraphQLError('Must provide query string.', {
                extensions: { code: 'BAD_REQUEST', http: { spec: true, status: 400, headers: { Allow: 'GET, POST' } } },
              }),
          },
        }),
      );
    },
  };
}
