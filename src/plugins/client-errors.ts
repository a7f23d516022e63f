/**
 * Client errors (bad input, invalid documents, limits, missing credentials) are the client's to fix,
 * not ours: one `info` line per response, with the request id and the codes, never a stack. Upstream
 * failures are logged by the transport; unexpected errors by Yoga's masking, at error level.
 */
import type { ExecutionResult } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import type { Logger } from 'pino';
import type { ErrorCode } from '../errors.js';

/** Codes of ours, and graphql-js's and Yoga's own for documents and requests they refuse. */
const CLIENT_CODES = new Set<ErrorCode | 'BAD_REQUEST' | 'GRAPHQL_PARSE_FAILED' | 'GRAPHQL_VALIDATION_FAILED'>([
  'BAD_USER_INPUT',
  'BAD_REQUEST',
  'UNAUTHENTICATED',
  'GRAPHQL_PARSE_FAILED',
  'GRAPHQL_VALIDATION_FAILED',
  'QUERY_TOO_DEEP',
  'QUERY_TOO_MANY_ALIASES',
  'QUERY_TOO_LARGE',
  'QUERY_TOO_COMPLEX',
  'CSRF_HEADER_REQUIRED',
  'PERSISTED_QUERY_NOT_FOUND',
  'PERSISTED_QUERY_ONLY',
]);

/** True for an error whose code says the client sent something we refuse. */
export function isClientErrorCode(code: unknown): boolean {
  return typeof code === 'string' && (CLIENT_CODES as ReadonlySet<string>).has(code);
}

export function useClientErrorLog(logger: Logger, requestIdOf: (serverContext: object) => string): Plugin {
  return {
    onResultProcess({ serverContext, result }) {
      const results = (Array.isArray(result) ? result : [result]) as ExecutionResult[];
      const codes = results.flatMap((one) => (one.errors ?? []).map((error) => error.extensions?.code)).filter(isClientErrorCode);
      if (codes.length === 0) return;
      const first = results.flatMap((one) => one.errors ?? []).find((error) => isClientErrorCode(error.extensions?.code));
      logger.info(
        {
          requestId: requestIdOf(serverContext),
          codes: [...new Set(codes)],
          message: first?.message.slice(0, 200),
        },
        'request refused: client error',
      );
    },
  };
}
