/**
 * Input that would break the gateway's own machinery, refused before anything reads it, as
 * BAD_USER_INPUT (HTTP 400): a document or variables nested deeper than any real query needs (the
 * parser, the cache key and the cost rule all recurse), and strings that are not well-formed UTF-16
 * (a lone surrogate cannot be sent upstream faithfully, nor be part of a cache key).
 */
import { GraphQLError } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import type { ErrorCode } from '../errors.js';

/** Brackets, braces and parentheses open at once in a document, and levels of variables; real queries stay far below. */
export const MAX_NESTING = 64;

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** String.prototype.isWellFormed, which TypeScript's ES2022 library does not declare. */
const isWellFormed = (text: string): boolean => !LONE_SURROGATE.test(text);

const refuse = (message: string): GraphQLError =>
  new GraphQLError(message, { extensions: { code: 'BAD_USER_INPUT' satisfies ErrorCode, http: { status: 400 } } });

/** The deepest nesting of `{`, `[` and `(` outside strings and comments; stops counting past `limit`. */
export function documentNesting(query: string, limit: number): number {
  let depth = 0;
  let deepest = 0;
  for (let i = 0; i < query.length; i += 1) {
    const char = query[i];
    if (char === '#') {
      while (i < query.length && query[i] !== '\n' && query[i] !== '\r') i += 1;
    } else if (char === '"') {
      const block = query.startsWith('"""', i);
      i += block ? 3 : 1;
      while (i < query.length && !(block ? query.startsWith('"""', i) : query[i] === '"' || query[i] === '\n')) {
        i += query[i] === '\\' ? 2 : 1;
      }
      if (block) i += 2;
    } else if (char === '{' || char === '[' || char === '(') {
      depth += 1;
      if (depth > deepest) deepest = depth;
      if (deepest > limit) return deepest;
    } else if (char === '}' || char === ']' || char === ')') {
      depth = Math.max(0, depth - 1);
    }
  }
  return deepest;
}

/** Why these variables are refused, or null: too deep, or a string with a lone surrogate. */
export function variablesProblem(value: unknown, limit: number, path = '', depth = 0): string | null {
  if (typeof value === 'string') return isWellFormed(value) ? null : `"${path || 'variables'}" holds a lone UTF-16 surrogate`;
  if (value === null || typeof value !== 'object') return null;
  if (depth >= limit) return `The variables are nested more than ${limit} levels deep`;
  const entries = Array.isArray(value) ? value.map((item, index) => [String(index), item] as const) : Object.entries(value);
  for (const [key, item] of entries) {
    if (!isWellFormed(key)) return 'A variable name holds a lone UTF-16 surrogate';
    const problem = variablesProblem(item, limit, path ? `${path}.${key}` : key, depth + 1);
    if (problem) return problem;
  }
  return null;
}

/** Why a request's GraphQL parameters are refused, or null (HTTP and WebSocket alike). */
export function paramsProblem(params: {
  query?: unknown;
  operationName?: unknown;
  variables?: unknown;
  extensions?: unknown;
}): string | null {
  const query = typeof params.query === 'string' ? params.query : '';
  if (!isWellFormed(query)) return 'The query holds a lone UTF-16 surrogate';
  if (documentNesting(query, MAX_NESTING) > MAX_NESTING) return `The query nests brackets more than ${MAX_NESTING} levels deep`;
  if (params.operationName != null && !isWellFormed(String(params.operationName)))
    return 'The operation name holds a lone UTF-16 surrogate';
  return variablesProblem(params.variables, MAX_NESTING) ?? variablesProblem(params.extensions, MAX_NESTING);
}

export function useInputGuard(): Plugin {
  return {
    onParams({ params }) {
      const problem = paramsProblem(params);
      if (problem) throw refuse(problem);
    },
  };
}
