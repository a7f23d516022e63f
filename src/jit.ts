/**
 * Compiled execution (graphql-jit) for queries. A 50-lead page resolves about 1,500 fields; the
 * compiled form of an operation runs them at a fraction of the interpreter's cost (measured in
 * `npm run bench`). It is compiled once per parsed document, and Yoga keeps one parsed document per
 * query text. Everything else stays on the standard executor (@graphql-tools/executor, as Yoga ships it), whose errors are the ones clients
 * are promised:
 * - operations that are not queries (this schema has none, and graphql-js says so);
 * - variables that do not coerce (graphql-js carries the scalar's own reason, graphql-jit only
 *   "Expected type DateTime");
 * - an operation graphql-jit cannot compile (logged once; it still runs, interpreted).
 */
import {
  type DocumentNode,
  type ExecutionArgs,
  type ExecutionResult,
  GraphQLError,
  getOperationAST,
  getVariableValues,
  type Source,
} from 'graphql';
import { type CompiledQuery, compileQuery, isCompiledQuery } from 'graphql-jit';
import type { Plugin } from 'graphql-yoga';
import type { Logger } from 'pino';

/** Coerces the variables the way graphql-js does, without keeping the result: only whether it succeeds. */
function variablesCoerce(args: ExecutionArgs, definitions: NonNullable<ReturnType<typeof getOperationAST>>['variableDefinitions']) {
  if (!definitions || definitions.length === 0) return true;
  return getVariableValues(args.schema, definitions, args.variableValues ?? {}, { maxErrors: 1 }).errors === undefined;
}

/** The offset in the query text of a 1-based line and column. */
function offsetOf(body: string, line: number, column: number): number {
  let offset = 0;
  for (let current = 1; current < line; current += 1) {
    const next = body.indexOf('\n', offset);
    if (next < 0) break;
    offset = next + 1;
  }
  return offset + column - 1;
}

/**
 * graphql-jit's errors carry line/column locations but not the nodes and positions graphql-js
 * errors have, and Yoga rebuilds every error from those before sending it (dropping `locations`).
 * Rebuilt here as graphql-js errors on the document's source, in graphql-js's order (errors first),
 * so a compiled query's errors read exactly as the standard executor's.
 */
function asStandardResult(result: ExecutionResult, source: Source | undefined): ExecutionResult {
  if (!result.errors?.length) return result;
  const errors = result.errors.map(
    (error) =>
      new GraphQLError(error.message, {
        source,
        positions: source ? error.locations?.map(({ line, column }) => offsetOf(source.body, line, column)) : undefined,
        path: error.path,
        originalError: error.originalError ?? undefined,
        extensions: error.extensions,
      }),
  );
  const { errors: _compiled, ...rest } = result;
  return { errors, ...rest };
}

export function useCompiledQueries(logger: Logger): Plugin {
  // Per document, per operation name: the compiled query, or null when graphql-jit declined it.
  const compiled = new WeakMap<DocumentNode, Map<string, CompiledQuery | null>>();
  const compiledFor = (args: ExecutionArgs): CompiledQuery | null => {
    let byName = compiled.get(args.document);
    if (!byName) {
      byName = new Map();
      compiled.set(args.document, byName);
    }
    const name = args.operationName ?? '';
    let entry = byName.get(name);
    if (entry === undefined) {
      const result = compileQuery(args.schema, args.document, args.operationName ?? undefined);
      if (isCompiledQuery(result)) {
        entry = result;
      } else {
        entry = null;
        logger.warn({ errors: result.errors?.map((error) => error.message) }, 'graphql-jit declined an operation; it runs interpreted');
      }
      byName.set(name, entry);
    }
    return entry;
  };
  return {
    onExecute({ args, setExecuteFn }) {
      const operation = getOperationAST(args.document, args.operationName);
      if (operation?.operation !== 'query' || !variablesCoerce(args, operation.variableDefinitions)) return;
      const query = compiledFor(args);
      if (!query) return;
      const source = args.document.loc?.source;
      setExecuteFn(async (execution) =>
        asStandardResult(await query.query(execution.rootValue, execution.contextValue, execution.variableValues), source),
      );
    },
  };
}
