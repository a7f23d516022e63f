/**
 * Query limits with stable error codes: depth and aliases (validation), tokens (parsing), cost
 * (at execution, with the request's variables: a connection multiplies the cost of what it selects
 * by the page size it will return, so a large page or a nested connection costs what it really
 * does), and the request body size.
 */
import {
  type DocumentNode,
  type FieldNode,
  type FragmentDefinitionNode,
  GraphQLError,
  type GraphQLObjectType,
  type GraphQLOutputType,
  type GraphQLSchema,
  getNamedType,
  getNullableType,
  isListType,
  isObjectType,
  Kind,
  type OperationDefinitionNode,
  parse,
  type SelectionSetNode,
  TypeInfo,
  type ValidationContext,
  type ValidationRule,
  valueFromAST,
  visit,
  visitWithTypeInfo,
} from 'graphql';
import type { Plugin } from 'graphql-yoga';

export interface QueryLimits {
  readonly maxDepth: number;
  readonly maxAliases: number;
  readonly maxTokens: number;
  readonly maxCost: number;
  readonly maxBodyBytes: number;
  /** Page size of a connection without `first`/`last`, and the cap on them. */
  readonly defaultPageSize: number;
  readonly maxPageSize: number;
}

/**
 * Items assumed for a list of objects that can fan out upstream (a type with a connection field, like
 * Pipeline, Status or User: each item's `leads` is its own upstream query). Lists of plain values
 * (tags, custom fields, contacts) come with their lead and cost nothing more upstream: factor 1.
 */
const LIST_ESTIMATE = 10;

const fansOut = (type: GraphQLObjectType): boolean =>
  Object.values(type.getFields()).some((field) => {
    const named = getNamedType(field.type);
    return isObjectType(named) && named.name.endsWith('Connection');
  });

const limitError = (code: string, message: string, node?: FieldNode | OperationDefinitionNode) =>
  new GraphQLError(message, { ...(node ? { nodes: node } : {}), extensions: { code } });

function depthRule(maxDepth: number): ValidationRule {
  return (context: ValidationContext) => {
    const fragments = new Map(
      context.getDocument().definitions.flatMap((d) => (d.kind === Kind.FRAGMENT_DEFINITION ? [[d.name.value, d] as const] : [])),
    );
    const depthOf = (set: SelectionSetNode, seen: Set<string>): number => {
      let deepest = 0;
      for (const selection of set.selections) {
        if (selection.kind === Kind.FIELD) {
          if (selection.name.value.startsWith('__')) continue; // introspection (GraphiQL) is exempt
          deepest = Math.max(deepest, 1 + (selection.selectionSet ? depthOf(selection.selectionSet, seen) : 0));
        } else if (selection.kind === Kind.INLINE_FRAGMENT) {
          deepest = Math.max(deepest, depthOf(selection.selectionSet, seen));
        } else {
          const fragment = fragments.get(selection.name.value);
          if (fragment && !seen.has(fragment.name.value))
            deepest = Math.max(deepest, depthOf(fragment.selectionSet, new Set([...seen, fragment.name.value])));
        }
      }
      return deepest;
    };
    return {
      OperationDefinition(operation) {
        const depth = depthOf(operation.selectionSet, new Set());
        if (depth > maxDepth) {
          context.reportError(
            limitError(
              'QUERY_TOO_DEEP',
              `The query is ${depth} levels deep; at most ${maxDepth} are allowed (LEADGRAPH_MAX_DEPTH)`,
              operation,
            ),
          );
        }
      },
    };
  };
}

function aliasRule(maxAliases: number): ValidationRule {
  return (context: ValidationContext) => {
    let aliases = 0;
    return {
      Field(field) {
        if (field.alias) aliases += 1;
      },
      Document: {
        leave() {
          if (aliases > maxAliases) {
            context.reportError(
              limitError(
                'QUERY_TOO_MANY_ALIASES',
                `The query uses ${aliases} aliases; at most ${maxAliases} are allowed (LEADGRAPH_MAX_ALIASES)`,
              ),
            );
          }
        },
      },
    };
  };
}

/** The cost of an operation: every field 1, times the items its ancestors return. */
export function operationCost(
  schema: GraphQLSchema,
  document: DocumentNode,
  operationName: string | null | undefined,
  variables: Record<string, unknown> | null | undefined,
  limits: Pick<QueryLimits, 'defaultPageSize' | 'maxPageSize'>,
): number {
  const operation = document.definitions.find(
    (d): d is OperationDefinitionNode => d.kind === Kind.OPERATION_DEFINITION && (!operationName || d.name?.value === operationName),
  );
  if (!operation) return 0;
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const d of document.definitions) if (d.kind === Kind.FRAGMENT_DEFINITION) fragments.set(d.name.value, d);
  const typeInfo = new TypeInfo(schema);
  const multipliers: number[] = [1];
  let cost = 0;
  const pageSize = (field: FieldNode): number => {
    const args = typeInfo.getFieldDef()?.args ?? [];
    const read = (name: string): number | null => {
      const node = field.arguments?.find((arg) => arg.name.value === name);
      const def = args.find((arg) => arg.name === name);
      if (!node || !def) return null;
      const value = valueFromAST(node.value, def.type, variables ?? {});
      return typeof value === 'number' ? value : null;
    };
    const size = read('first') ?? read('last') ?? limits.defaultPageSize;
    return Math.max(1, Math.min(size, limits.maxPageSize));
  };
  const expand = (node: OperationDefinitionNode | FragmentDefinitionNode, seen: Set<string>): void => {
    visit(
      node,
      visitWithTypeInfo(typeInfo, {
        Field: {
          enter(field) {
            const outer = multipliers.at(-1) as number;
            if (field.name.value.startsWith('__')) return false;
            cost += outer;
            const type = typeInfo.getType() as GraphQLOutputType | null;
            const named = type ? getNamedType(type) : null;
            let factor = 1;
            if (named && isObjectType(named) && named.name.endsWith('Connection')) factor = pageSize(field);
            else if (type && isListType(getNullableType(type)) && named && isObjectType(named) && fansOut(named)) factor = LIST_ESTIMATE;
            multipliers.push(outer * factor);
            return undefined;
          },
          leave(field) {
            if (!field.name.value.startsWith('__')) multipliers.pop();
          },
        },
        FragmentSpread(spread) {
          const fragment = fragments.get(spread.name.value);
          if (fragment && !seen.has(fragment.name.value)) expand(fragment, new Set([...seen, fragment.name.value]));
        },
      }),
    );
  };
  expand(operation, new Set());
  return cost;
}

/** The limits as a Yoga plugin. */
export function useQueryLimits(limits: QueryLimits): Plugin {
  // Yoga's parser cache hands out the same DocumentNode for the same query text: cost is computed
  // once per document and set of variables, not on every request.
  const costs = new WeakMap<DocumentNode, Map<string, number>>();
  const costOf = (
    schema: GraphQLSchema,
    document: DocumentNode,
    operationName: string | null | undefined,
    variables: Record<string, unknown> | null | undefined,
  ) => {
    let byVariables = costs.get(document);
    if (!byVariables) {
      byVariables = new Map();
      costs.set(document, byVariables);
    }
    const key = `${operationName ?? ''}\u0000${JSON.stringify(variables ?? {})}`;
    let cost = byVariables.get(key);
    if (cost === undefined) {
      cost = operationCost(schema, document, operationName, variables, limits);
      if (byVariables.size >= 256) byVariables.clear();
      byVariables.set(key, cost);
    }
    return cost;
  };
  const tooLarge = (size: string) =>
    `The request body is ${size} bytes; at most ${limits.maxBodyBytes} are accepted (LEADGRAPH_MAX_BODY_BYTES)`;
  return {
    onRequest({ request, endResponse, fetchAPI }) {
      const length = Number(request.headers.get('content-length') ?? 0);
      if (length > limits.maxBodyBytes) {
        const body = { errors: [{ message: tooLarge(String(length)), extensions: { code: 'QUERY_TOO_LARGE' } }] };
        endResponse(new fetchAPI.Response(JSON.stringify(body), { status: 413, headers: { 'content-type': 'application/json' } }));
      }
    },
    // A body with a Content-Length was checked above, and Node's HTTP parser never reads past it. A body
    // without one (chunked) is read here up to the limit, so it cannot grow past it either; Yoga's own
    // limit (which re-streams every body) is turned off in server.ts.
    onRequestParse({ request, requestParser, setRequestParser, fetchAPI }) {
      if (!requestParser || !request.body || request.headers.has('content-length')) return;
      setRequestParser(async (unbounded) => {
        const chunks: Uint8Array[] = [];
        let size = 0;
        // A reader, not `for await`: leaving a for-await loop cancels the stream, which destroys the socket
        // before the 413 can be written. Unread, the rest is discarded by Node once the response is sent.
        const reader = (unbounded.body as ReadableStream<Uint8Array>).getReader();
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          size += value.byteLength;
          if (size > limits.maxBodyBytes) {
            reader.releaseLock();
            throw new GraphQLError(tooLarge(`over ${limits.maxBodyBytes}`), {
              extensions: { code: 'QUERY_TOO_LARGE', http: { status: 413 } },
            });
          }
          chunks.push(value);
        }
        const bounded = new fetchAPI.Request(unbounded.url, {
          method: unbounded.method,
          headers: unbounded.headers,
          signal: unbounded.signal,
          body: Buffer.concat(chunks),
        });
        return await requestParser(bounded);
      });
    },
    onParse({ setParseFn }) {
      setParseFn((source, options) => {
        try {
          return parse(source, { ...options, maxTokens: limits.maxTokens });
        } catch (error) {
          // graphql-js 16 says "more that N tokens"; accept the corrected wording too.
          if (error instanceof GraphQLError && /more th(?:an|at) \d+ tokens/.test(error.message)) {
            throw limitError('QUERY_TOO_LARGE', `The query has more than ${limits.maxTokens} tokens (LEADGRAPH_MAX_TOKENS)`);
          }
          throw error;
        }
      });
    },
    onValidate({ addValidationRule }) {
      addValidationRule(depthRule(limits.maxDepth));
      addValidationRule(aliasRule(limits.maxAliases));
    },
    onExecute({ args, setResultAndStopExecution }) {
      const cost = costOf(args.schema, args.document, args.operationName, args.variableValues);
      if (cost > limits.maxCost) {
        setResultAndStopExecution({
          errors: [
            limitError(
              'QUERY_TOO_COMPLEX',
              `The query costs ${cost}; at most ${limits.maxCost} is allowed (LEADGRAPH_MAX_COST). Every selected field costs 1 per item: ask for smaller pages, fewer fields, or fewer nested lists`,
            ),
          ],
        });
      }
    },
  };
}
