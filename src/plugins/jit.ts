/**
 * Ours, not @envelop/graphql-jit: that plugin compiles on the first run, caches one compiled query per
 * document whatever `operationName` selects, and answers graphql-jit's own errors (no fallback).
 *
 * Compiled execution (graphql-jit) for queries that run again. A 50-lead page resolves about 1,500
 * fields; compiled, an operation runs them for about 3 ms less CPU (measured in `npm run bench`). But
 * compiling costs 2 to 10 ms, more than one run saves, so an operation is compiled the second time
 * it runs, not the first: a typed client's fixed documents are compiled once and reused, while a
 * one-off query (values written into the text, GraphiQL edits) never pays for a compile. Yoga keeps
 * one parsed document per query text, so "the same operation" is the same text and operation name.
 *
 * Everything else stays on the standard executor (@graphql-tools/executor, as Yoga ships it),
 * whose errors are the ones clients are promised:
 * - operations that are not queries (this schema has none, and the executor says so);
 * - variables that do not coerce (graphql-jit answers them with errors and no data, before running
 *   anything; the standard executor then answers instead, with the scalar's own reason where
 *   graphql-jit says only "Expected type DateTime");
 * - an operation graphql-jit cannot compile (logged once; it still runs, interpreted).
 */
import { type DocumentNode, type ExecutionArgs, type ExecutionResult, GraphQLError, getOperationAST, type Source } from 'graphql';
import { type CompiledQuery, compileQuery, isCompiledQuery } from 'graphql-jit';
import type { Plugin } from 'graphql-yoga';
import type { Logger } from 'pino';

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
  // Per document, per operation name: 'seen' after its first run, then the compiled query (or null
  // when graphql-jit declined it).
  const operations = new WeakMap<DocumentNode, Map<string, 'seen' | CompiledQuery | null>>();
  const compiledFor = (args: ExecutionArgs): CompiledQuery | null => {
    let byName = operations.get(args.document);
    if (!byName) {
      byName = new Map();
      operations.set(args.document, byName);
    }
    const name = args.operationName ?? '';
    const entry = byName.get(name);
    if (entry === undefined) {
      byName.set(name, 'seen');
      return null;
    }
    if (entry !== 'seen') return entry;
    const result = compileQuery(args.schema, args.document, args.operationName ?? undefined);
    if (isCompiledQuery(result)) {
      byName.set(name, result);
      return result;
    }
    byName.set(name, null);
    logger.warn({ errors: result.errors?.map((error) => error.message) }, 'graphql-jit declined an operation; it runs interpreted');
    return null;
  };
  return {
    onExecute({ args, executeFn, setExecuteFn }) {
      if (getOperationAST(args.document, args.operationName)?.operation !== 'query') return;
      const query = compiledFor(args);
      if (!query) return;
      const source = args.document.loc?.source;
      setExecuteFn(async (execution) => {
        const result = await query.query(execution.rootValue, execution.contextValue, execution.variableValues);
        // No `data` at all: the variables did not coerce, and nothing ran.
        return 'data' in result ? asStandardResult(result, source) : await executeFn(execution);
      });
    },
  };
}
