/**
 * Query limits with stable error codes: depth and aliases (validation), tokens (parsing), cost
 * (at execution, with the request's variables: a connection multiplies the cost of what it selects
 * by the page size it will return, so a large page or a nested connection costs what it really
 * does), and the request body size.
 *
 * Depth and aliases are graphql-armor's. Kept ours: the cost rule (armor's cost limit prices fields
 * by depth, without the page sizes in the variables); tokens (graphql-js's own `parse` option;
 * armor's proxies every lexer step and goes on parsing past the limit unless it throws); the body
 * size (armor has none, and Yoga's limit re-streams every body).
 */
import { EnvelopArmorPlugin } from '@escape.tech/graphql-armor';
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
  TypeInfo,
  valueFromAST,
  visit,
  visitWithTypeInfo,
} from 'graphql';
import type { Plugin, YogaInitialContext } from 'graphql-yoga';
import { LRUCache } from 'lru-cache';
import type { ErrorCode } from '../errors.js';
import { coercedVariables, operationOf } from '../plan.js';

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

/**
 * What a field that scans every lead of the tenant's index costs (`Query.leadStats` for its totals, each
 * `LeadStats.groups`): about what a 250-lead page with ten fields costs, so the default maximum cost
 * allows about ten scans a request (a few tens of milliseconds each over 100,000 leads), not hundreds.
 */
export const SCAN_COST = 2500;
const SCANS: ReadonlySet<string> = new Set(['Query.leadStats', 'LeadStats.groups']);

/** Costs remembered per document (one per operation name and set of variables), least recently used first out. */
const COSTS_PER_DOCUMENT = 256;

const fansOut = (type: GraphQLObjectType): boolean =>
  Object.values(type.getFields()).some((field) => {
    const named = getNamedType(field.type);
    return isObjectType(named) && named.name.endsWith('Connection');
  });

// HTTP 400 with application/graphql-response+json, 200 with application/json (`spec`), as Yoga answers invalid
// documents: the cost is refused at execution, where Yoga would otherwise answer 200 either way.
const limitError = (code: ErrorCode, message: string, node?: OperationDefinitionNode) =>
  new GraphQLError(message, { ...(node ? { nodes: node } : {}), extensions: { code, http: { status: 400, spec: true } } });

/** The number armor found, from its message ("... exceeded, found 14."). */
const armorCount = (error: GraphQLError): number | null => {
  const found = /found (\d+)/.exec(error.message)?.[1];
  return found === undefined ? null : Number(found);
};

/**
 * Depth and aliases by graphql-armor, reported with our codes and messages. Both count through
 * fragments once per fragment (linear in the document, however often a fragment is spread).
 */
function armorLimits(limits: Pick<QueryLimits, 'maxDepth' | 'maxAliases'>) {
  return EnvelopArmorPlugin<YogaInitialContext>({
    maxDepth: {
      n: limits.maxDepth,
      // Fragments add no depth; `__schema` (GraphiQL's introspection) is not counted.
      flattenFragments: true,
      ignoreIntrospection: true,
      propagateOnRejection: false,
      onReject: [
        (context, error) => {
          const depth = armorCount(error) ?? `more than ${limits.maxDepth}`;
          // Armor does not say which operation; with one (the usual case), the error points at it.
          const operations = context?.getDocument().definitions.filter((d) => d.kind === Kind.OPERATION_DEFINITION) ?? [];
          context?.reportError(
            limitError(
              'QUERY_TOO_DEEP',
              `The query is ${depth} levels deep; at most ${limits.maxDepth} are allowed (LEADGRAPH_MAX_DEPTH)`,
              operations.length === 1 ? operations[0] : undefined,
            ),
          );
        },
      ],
    },
    maxAliases: {
      n: limits.maxAliases,
      // Every alias counts, `__typename` ones too (armor's default allows those).
      allowList: [],
      propagateOnRejection: false,
      onReject: [
        (context, error) => {
          const aliases = armorCount(error) ?? `more than ${limits.maxAliases}`;
          context?.reportError(
            limitError(
              'QUERY_TOO_MANY_ALIASES',
              `The query uses ${aliases} aliases; at most ${limits.maxAliases} are allowed (LEADGRAPH_MAX_ALIASES)`,
            ),
          );
        },
      ],
    },
    // Tokens stay graphql-js's own `maxTokens` (below); cost is ours (it knows page sizes); the rest is off.
    maxTokens: { enabled: false },
    costLimit: { enabled: false },
    maxDirectives: { enabled: false },
    blockFieldSuggestion: { enabled: false },
  });
}

/** The cost of an operation: every field 1, times the items its ancestors return. */
export function operationCost(
  schema: GraphQLSchema,
  document: DocumentNode,
  operationName: string | null | undefined,
  variables: Record<string, unknown> | null | undefined,
  limits: Pick<QueryLimits, 'defaultPageSize' | 'maxPageSize'>,
): number {
  const operation = operationOf(document, operationName);
  if (!operation) return 0;
  // As execution will see them: a variable's default counts like a value sent.
  const values = coercedVariables(schema, operation, variables);
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const d of document.definitions) if (d.kind === Kind.FRAGMENT_DEFINITION) fragments.set(d.name.value, d);
  // A fragment's cost is linear in the multiplier it is spread under: measured once and reused, so a
  // fragment spread twice by a fragment spread twice... costs linear time, not one walk per path.
  const unitCosts = new Map<string, number>();
  const measure = (node: OperationDefinitionNode | FragmentDefinitionNode, seen: ReadonlySet<string>): number => {
    const typeInfo = new TypeInfo(schema);
    const multipliers: number[] = [1];
    let cost = 0;
    const listArgumentLength = (field: FieldNode): number | null => {
      const args = typeInfo.getFieldDef()?.args ?? [];
      for (const def of args) {
        if (!isListType(getNullableType(def.type))) continue;
        const node = field.arguments?.find((arg) => arg.name.value === def.name);
        if (!node) continue;
        const value = valueFromAST(node.value, def.type, values);
        if (Array.isArray(value)) return value.length;
      }
      return null;
    };
    const pageSize = (field: FieldNode): number => {
      const args = typeInfo.getFieldDef()?.args ?? [];
      const read = (name: string): number | null => {
        const node = field.arguments?.find((arg) => arg.name.value === name);
        const def = args.find((arg) => arg.name === name);
        if (!node || !def) return null;
        const value = valueFromAST(node.value, def.type, values);
        return typeof value === 'number' ? value : null;
      };
      const size = read('first') ?? read('last') ?? limits.defaultPageSize;
      return Math.max(1, Math.min(size, limits.maxPageSize));
    };
    visit(
      node,
      visitWithTypeInfo(typeInfo, {
        Field: {
          enter(field) {
            const outer = multipliers.at(-1) as number;
            if (field.name.value.startsWith('__')) return false;
            cost += outer;
            const parent = typeInfo.getParentType();
            if (parent && SCANS.has(`${parent.name}.${field.name.value}`)) cost += outer * SCAN_COST;
            const type = typeInfo.getType() as GraphQLOutputType | null;
            const named = type ? getNamedType(type) : null;
            let factor = 1;
            const items = listArgumentLength(field);
            if (named && isObjectType(named) && named.name.endsWith('Connection')) factor = pageSize(field);
            // `nodes(ids:)`, `_entities(representations:)`: one item per id asked for.
            else if (type && isListType(getNullableType(type)) && items !== null) factor = Math.max(1, items);
            else if (type && isListType(getNullableType(type)) && named && isObjectType(named) && fansOut(named)) factor = LIST_ESTIMATE;
            multipliers.push(outer * factor);
            return undefined;
          },
          leave(field) {
            if (!field.name.value.startsWith('__')) multipliers.pop();
          },
        },
        FragmentSpread(spread) {
          const name = spread.name.value;
          const fragment = fragments.get(name);
          // A cycle cannot pass validation; the guard keeps this function total anyway.
          if (!fragment || seen.has(name)) return;
          let unit = unitCosts.get(name);
          if (unit === undefined) {
            unit = measure(fragment, new Set([...seen, name]));
            unitCosts.set(name, unit);
          }
          cost += (multipliers.at(-1) as number) * unit;
        },
      }),
    );
    return cost;
  };
  return measure(operation, new Set());
}

/** The limits as a Yoga plugin. */
export function useQueryLimits(limits: QueryLimits): Plugin {
  // Yoga's parser cache hands out the same DocumentNode for the same query text: cost is computed
  // once per document and set of variables, not on every request.
  const costs = new WeakMap<DocumentNode, LRUCache<string, number>>();
  const costOf = (
    schema: GraphQLSchema,
    document: DocumentNode,
    operationName: string | null | undefined,
    variables: Record<string, unknown> | null | undefined,
  ) => {
    let byVariables = costs.get(document);
    if (!byVariables) {
      byVariables = new LRUCache({ max: COSTS_PER_DOCUMENT });
      costs.set(document, byVariables);
    }
    const key = `${operationName ?? ''}\u0000${JSON.stringify(variables ?? {})}`;
    let cost = byVariables.get(key);
    if (cost === undefined) {
      cost = operationCost(schema, document, operationName, variables, limits);
      byVariables.set(key, cost);
    }
    return cost;
  };
  const tooLarge = (size: string) =>
    `The request body is ${size} bytes; at most ${limits.maxBodyBytes} are accepted (LEADGRAPH_MAX_BODY_BYTES)`;
  const armor = armorLimits(limits);
  const tooComplex = (args: {
    schema: GraphQLSchema;
    document: DocumentNode;
    operationName?: string | null | undefined;
    variableValues?: Record<string, unknown> | null | undefined;
  }): GraphQLError | null => {
    const cost = costOf(args.schema, args.document, args.operationName, args.variableValues);
    if (cost <= limits.maxCost) return null;
    return limitError(
      'QUERY_TOO_COMPLEX',
      `The query costs ${cost}; at most ${limits.maxCost} is allowed (LEADGRAPH_MAX_COST). Every selected field costs 1 per item: ask for smaller pages, fewer fields, or fewer nested lists`,
    );
  };
  return {
    // Depth and aliases are validation rules, so they refuse a document before the cost rule (at execution) runs.
    onPluginInit({ addPlugin }) {
      addPlugin(armor);
    },
    onRequest({ request, endResponse, fetchAPI }) {
      const length = Number(request.headers.get('content-length') ?? 0);
      if (length > limits.maxBodyBytes) {
        const body = { errors: [{ message: tooLarge(String(length)), extensions: { code: 'QUERY_TOO_LARGE' satisfies ErrorCode } }] };
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
              extensions: { code: 'QUERY_TOO_LARGE' satisfies ErrorCode, http: { status: 413 } },
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
    onExecute({ args, setResultAndStopExecution }) {
      const refusal = tooComplex(args);
      if (refusal) setResultAndStopExecution({ errors: [refusal] });
    },
    // A subscription's cost is paid on every event it sends: the same limit, checked when it starts.
    onSubscribe({ args, setResultAndStopExecution }) {
      const refusal = tooComplex(args);
      if (refusal) setResultAndStopExecution({ errors: [refusal] });
    },
  };
}
