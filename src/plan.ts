/**
 * The upstream call plan: from the document, its variables and the schema, the upstream calls a
 * request can cause, before any is made. What costs a call:
 * - a lead connection: nothing when only the lead index can answer it (an `orderBy`, a `search`,
 *   `price` or `closedAt` filter); otherwise the blocks its page spans (`ceil((size + 1) /
 *   blockSize)`), one more when it starts at a cursor or pages backward, one more for `totalCount`
 *   (two with a cursor). A connection
 *   under a pipeline, stage or user costs once per distinct parent: the request reads one parent's
 *   page once, however often the parent appears, so their number is capped by the table's size;
 * - leads looked up by id (`lead`, `node`/`nodes` of a Lead id, `_entities` of Lead representations):
 *   one batch for the whole request, priced by the source (`LeadAdapter.lookupCalls`);
 * - the pipelines and users tables: one call each per request, however many fields need them.
 * Everything else (tags, custom fields, contacts) comes with its lead.
 *
 * Table sizes come from what the gateway has seen of the tenant (`TableSizes`). Where one decides the
 * estimate and is not known yet, the plan says so (`needs`) and the caller learns it first: those are
 * reads the request makes anyway (the reference tables, the lead table's first block), at most three.
 * The estimate assumes every id looked up exists and every filter is applied by the upstream; what it
 * misses, the allowance catches while the request runs (transport/allowance.ts).
 *
 * The same field with the same arguments under the same parents is counted once (the request reads it
 * once): aliases that repeat a field, a fragment spread twice. Fields `@skip`/`@include` leave out are
 * not counted. Variables are coerced first (their defaults apply). The walk visits each path of fields
 * once, and runs after the cost limit (plugins/limits.ts), which bounds the document's expanded size.
 */
import {
  type DocumentNode,
  type FieldNode,
  type FragmentDefinitionNode,
  type GraphQLCompositeType,
  type GraphQLField,
  GraphQLIncludeDirective,
  type GraphQLSchema,
  GraphQLSkipDirective,
  getDirectiveValues,
  getNamedType,
  getVariableValues,
  isCompositeType,
  isInterfaceType,
  isObjectType,
  Kind,
  type OperationDefinitionNode,
  print,
  type SelectionNode,
  type SelectionSetNode,
  valueFromAST,
} from 'graphql';
import { parseGlobalId } from './global-id.js';

/** What the gateway knows of a tenant's tables (see tenant-facts.ts). */
export interface TableSizes {
  /** Blocks of the unfiltered lead table; null when the upstream reports no total. */
  readonly leadBlocks?: number | null | undefined;
  readonly pipelines?: number | undefined;
  /** Stages of all pipelines together, and of the largest one. */
  readonly statuses?: number | undefined;
  readonly statusesPerPipeline?: number | undefined;
  readonly users?: number | undefined;
}

/** A fact the plan needed and did not have: what the caller reads to learn it. */
export type Fact = 'leadTable' | 'pipelines' | 'users';

export interface PlanSource {
  readonly blockSize: number;
  lookupCalls(ids: number, tableBlocks: number | null | undefined): number;
}

export interface CallPlan {
  /** Upstream calls the request can cause. */
  readonly calls: number;
  readonly blocks: number;
  readonly leadIds: number;
  readonly tables: readonly ('pipelines' | 'users')[];
  /** Facts that were unknown and mattered: learn them and plan again for a firm estimate. */
  readonly needs: ReadonlySet<Fact>;
}

export interface PlanInput {
  readonly schema: GraphQLSchema;
  readonly document: DocumentNode;
  readonly operationName?: string | null | undefined;
  readonly variables?: Record<string, unknown> | null | undefined;
  readonly source: PlanSource;
  readonly sizes: TableSizes;
  readonly defaultPageSize: number;
  readonly maxPageSize: number;
  /**
   * Checks a field's arguments as its resolver will (`Type.field`, and its coerced arguments): throws
   * BAD_USER_INPUT, so a bad argument is reported as such, before the plan learns or refuses anything.
   */
  readonly check?: ((coordinate: string, argument: (name: string) => unknown) => void) | undefined;
  /** What the tenant's lead index serves for this request (no upstream call): its leads, its reference tables. */
  readonly served?: Served | undefined;
}

export interface Served {
  readonly leads: boolean;
  readonly pipelines: boolean;
  readonly users: boolean;
}

const NOTHING_SERVED: Served = { leads: false, pipelines: false, users: false };

/** Sizes assumed while a table's real size is not known (the plan reports the need, see above). */
const ASSUMED = { pipelines: 10, statuses: 100, statusesPerPipeline: 10, users: 100 } as const;

/** Fields that need a reference table (one call per request). */
const TABLE_OF_FIELD: Readonly<Record<string, 'pipelines' | 'users'>> = {
  'Query.pipelines': 'pipelines',
  'Query.pipeline': 'pipelines',
  'Lead.pipeline': 'pipelines',
  'Lead.status': 'pipelines',
  'Status.pipeline': 'pipelines',
  'Query.users': 'users',
  'Query.user': 'users',
  'Lead.responsibleUser': 'users',
  'Lead.createdBy': 'users',
  'Lead.updatedBy': 'users',
};

/** The table behind each type a global id or an entity representation can name. */
const TABLE_OF_TYPE: Readonly<Record<string, 'pipelines' | 'users' | 'leads'>> = {
  Lead: 'leads',
  Pipeline: 'pipelines',
  Status: 'pipelines',
  User: 'users',
};

const CONNECTION = 'LeadConnection';
/** `LeadFilter` fields no source applies: a connection with one is served by the lead index or refused. */
const INDEX_ONLY_FILTERS = ['search', 'price', 'closedAt'] as const;

/**
 * The operation's variables as execution will see them: defaults applied, values coerced (a single
 * value where a list is expected becomes a list). Variables that do not coerce are left raw: execution
 * refuses them anyway.
 */
export function coercedVariables(
  schema: GraphQLSchema,
  operation: OperationDefinitionNode,
  raw: Record<string, unknown> | null | undefined,
): Record<string, unknown> {
  const result = getVariableValues(schema, operation.variableDefinitions ?? [], raw ?? {});
  return result.coerced ?? raw ?? {};
}

/** The operation `operationName` names (or the first one). */
export function operationOf(document: DocumentNode, operationName: string | null | undefined): OperationDefinitionNode | undefined {
  return document.definitions.find(
    (d): d is OperationDefinitionNode => d.kind === Kind.OPERATION_DEFINITION && (!operationName || d.name?.value === operationName),
  );
}

/** Whether `@skip`/`@include` leave a selection in, with these variables. */
export function isIncluded(node: SelectionNode, variables: Record<string, unknown>): boolean {
  if (!node.directives?.length) return true;
  if (getDirectiveValues(GraphQLSkipDirective, node, variables)?.if === true) return false;
  return getDirectiveValues(GraphQLIncludeDirective, node, variables)?.if !== false;
}

interface Entry {
  readonly typename: string;
  readonly id: string;
}

/** Parsed once per list: a variable's list is the same object however often the document uses it. */
const parsedLists = new WeakMap<readonly unknown[], readonly Entry[]>();

function entriesOf(list: readonly unknown[], parse: (item: unknown) => Entry | null): readonly Entry[] {
  let parsed = parsedLists.get(list);
  if (!parsed) {
    parsed = list.flatMap((item) => {
      const entry = parse(item);
      return entry ? [entry] : [];
    });
    parsedLists.set(list, parsed);
  }
  return parsed;
}

const globalIdEntry = (id: unknown): Entry | null => (typeof id === 'string' ? parseGlobalId(id) : null);

const representationEntry = (representation: unknown): Entry | null => {
  const { __typename: typename, kommoId } = (representation ?? {}) as { __typename?: unknown; kommoId?: unknown };
  return typeof typename === 'string' ? { typename, id: String(kommoId) } : null;
};

export function planCalls(input: PlanInput): CallPlan {
  const { schema, document, source, sizes } = input;
  const served = input.served ?? NOTHING_SERVED;
  const operation = operationOf(document, input.operationName);
  const needs = new Set<Fact>();
  // Lead ids are distinct (the request's loader asks for each once); tables once per request.
  const tally = { blocks: 0, leadIds: new Set<string>(), tables: new Set<'pipelines' | 'users'>() };
  if (!operation) return { calls: 0, blocks: 0, leadIds: 0, tables: [], needs };
  const root = schema.getRootType(operation.operation);
  if (!root) return { calls: 0, blocks: 0, leadIds: 0, tables: [], needs };
  const variables = coercedVariables(schema, operation, input.variables);

  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const d of document.definitions) if (d.kind === Kind.FRAGMENT_DEFINITION) fragments.set(d.name.value, d);

  const size = (name: keyof typeof ASSUMED, fact: Fact): number => {
    const known = sizes[name];
    if (known !== undefined) return Math.max(0, known);
    needs.add(fact);
    return ASSUMED[name];
  };

  const conditionOf = (name: string | undefined): GraphQLCompositeType | null => {
    if (!name) return null;
    const type = schema.getType(name);
    return type && isCompositeType(type) ? type : null;
  };

  // Whether a selection reaches a lead connection (through fragments too): only then does a list's length matter.
  const reaching = new WeakMap<SelectionSetNode, boolean>();
  const reachesConnection = (set: SelectionSetNode | undefined, type: GraphQLCompositeType, seen: ReadonlySet<string>): boolean => {
    if (!set) return false;
    const memo = reaching.get(set);
    if (memo !== undefined) return memo;
    let found = false;
    for (const selection of set.selections) {
      if (found) break;
      if (selection.kind === Kind.FIELD) {
        const field = fieldOf(type, selection);
        if (!field) continue;
        const named = getNamedType(field.type);
        found = named.name === CONNECTION || (isCompositeType(named) && reachesConnection(selection.selectionSet, named, seen));
      } else if (selection.kind === Kind.INLINE_FRAGMENT) {
        found = reachesConnection(selection.selectionSet, conditionOf(selection.typeCondition?.name.value) ?? type, seen);
      } else {
        const fragment = fragments.get(selection.name.value);
        if (fragment && !seen.has(fragment.name.value)) {
          const next = new Set([...seen, fragment.name.value]);
          found = reachesConnection(fragment.selectionSet, conditionOf(fragment.typeCondition.name.value) ?? type, next);
        }
      }
    }
    reaching.set(set, found);
    return found;
  };

  /** Whether a connection's selection asks for `totalCount`, through fragments too. */
  const selectsTotalCount = (set: SelectionSetNode | undefined, seen: ReadonlySet<string>): boolean =>
    (set?.selections ?? []).some((selection) => {
      if (!isIncluded(selection, variables)) return false;
      if (selection.kind === Kind.FIELD) return selection.name.value === 'totalCount';
      if (selection.kind === Kind.INLINE_FRAGMENT) return selectsTotalCount(selection.selectionSet, seen);
      const fragment = fragments.get(selection.name.value);
      if (!fragment || seen.has(fragment.name.value)) return false;
      return selectsTotalCount(fragment.selectionSet, new Set([...seen, fragment.name.value]));
    });

  const argument = (field: FieldNode, definition: GraphQLField<unknown, unknown>, name: string): unknown => {
    const node = field.arguments?.find((arg) => arg.name.value === name);
    const def = definition.args.find((arg) => arg.name === name);
    if (!def) return undefined;
    if (!node) return def.defaultValue;
    return valueFromAST(node.value, def.type, variables);
  };

  /** Blocks one page of a connection spans, and its page size. */
  const connection = (field: FieldNode, definition: GraphQLField<unknown, unknown>): { blocks: number; pageSize: number } => {
    const first = argument(field, definition, 'first');
    const last = argument(field, definition, 'last');
    const cursor = argument(field, definition, 'after') != null || argument(field, definition, 'before') != null;
    const requested = typeof first === 'number' ? first : typeof last === 'number' ? last : input.defaultPageSize;
    const pageSize = Math.max(0, Math.min(requested, input.maxPageSize));
    let blocks = Math.ceil((pageSize + 1) / source.blockSize);
    if (cursor || typeof last === 'number') blocks += 1;
    if (selectsTotalCount(field.selectionSet, new Set())) blocks += cursor ? 2 : 1;
    return { blocks, pageSize };
  };

  /** Whether a connection's arguments need the lead index: an order, or a filter only the index applies. */
  const needsIndex = (field: FieldNode, definition: GraphQLField<unknown, unknown>): boolean => {
    if (argument(field, definition, 'orderBy') != null) return true;
    const filter = argument(field, definition, 'filter') as Record<string, unknown> | null | undefined;
    return INDEX_ONLY_FILTERS.some((name) => filter?.[name] != null);
  };

  /** How many distinct parents of this type a request can hold: a connection under them is read once per parent. */
  const distinct = (type: GraphQLCompositeType, count: number): number => {
    if (count <= 1) return count;
    if (type.name === 'Pipeline') return Math.min(count, size('pipelines', 'pipelines'));
    if (type.name === 'Status') return Math.min(count, size('statuses', 'pipelines'));
    if (type.name === 'User') return Math.min(count, size('users', 'users'));
    return count;
  };

  /** Leads and tables behind a list of global ids or entity representations. */
  const byType = (entries: readonly Entry[]): void => {
    for (const { typename, id } of entries) {
      const table = TABLE_OF_TYPE[typename];
      if (table === 'leads') tally.leadIds.add(id);
      else if (table && !served[table]) tally.tables.add(table);
    }
  };

  // A field is read once per path of fields and arguments from the root, however often the document
  // names it (aliases with the same arguments, a fragment spread twice): each path is walked once, so a
  // fragment that spreads the next one twice, twenty deep, is linear.
  const walkedPaths = new Set<string>();
  const walk = (
    set: SelectionSetNode | undefined,
    type: GraphQLCompositeType,
    multiplier: number,
    path: string,
    seen: ReadonlySet<string>,
  ): void => {
    if (!set || multiplier <= 0) return;
    for (const selection of set.selections) {
      if (!isIncluded(selection, variables)) continue;
      if (selection.kind === Kind.INLINE_FRAGMENT) {
        walk(selection.selectionSet, conditionOf(selection.typeCondition?.name.value) ?? type, multiplier, path, seen);
        continue;
      }
      if (selection.kind === Kind.FRAGMENT_SPREAD) {
        const fragment = fragments.get(selection.name.value);
        if (!fragment || seen.has(fragment.name.value)) continue;
        const key = `${path}\u0000...${fragment.name.value}`;
        if (walkedPaths.has(key)) continue;
        walkedPaths.add(key);
        const condition = conditionOf(fragment.typeCondition.name.value) ?? type;
        walk(fragment.selectionSet, condition, multiplier, path, new Set([...seen, fragment.name.value]));
        continue;
      }
      const definition = fieldOf(type, selection);
      if (!definition) continue;
      const named = getNamedType(definition.type);
      const coordinate = `${type.name}.${selection.name.value}`;
      input.check?.(coordinate, (name) => argument(selection, definition, name));
      const table = TABLE_OF_FIELD[coordinate];
      if (table && !served[table]) tally.tables.add(table);
      if (!isCompositeType(named)) continue;
      // The arguments as written (a variable by its name): cheap however long the list it holds.
      const args = selection.arguments?.length
        ? `(${selection.arguments.map((arg) => `${arg.name.value}:${print(arg.value)}`).join(',')})`
        : '';
      const fieldPath = `${path}/${coordinate}${args}`;
      const again = walkedPaths.has(fieldPath);
      walkedPaths.add(fieldPath);
      if (again) continue; // the same field, arguments and parents: the same reads, already counted

      let childMultiplier = multiplier;
      if (served.leads) {
        // The index answers every lead connection and lookup: nothing under this field costs a call but its tables.
      } else if (named.name === CONNECTION && needsIndex(selection, definition)) {
        // Sorted, searched or ranged: only the lead index answers it (after a wait, or INDEX_NOT_READY), never the upstream.
        childMultiplier = distinct(type, multiplier) * connection(selection, definition).pageSize;
      } else if (named.name === CONNECTION) {
        const { blocks, pageSize } = connection(selection, definition);
        const pages = distinct(type, multiplier);
        tally.blocks += pages * blocks;
        childMultiplier = pages * pageSize;
      } else if (coordinate === 'Query.lead') {
        const id = argument(selection, definition, 'kommoId');
        if (typeof id === 'string') tally.leadIds.add(id);
      } else if (coordinate === 'Query.node') {
        const id = argument(selection, definition, 'id');
        byType(entriesOf([id], globalIdEntry));
      } else if (coordinate === 'Query.nodes' || coordinate === 'Query._entities') {
        const list = argument(selection, definition, coordinate === 'Query.nodes' ? 'ids' : 'representations');
        const entries = entriesOf(Array.isArray(list) ? list : [], coordinate === 'Query.nodes' ? globalIdEntry : representationEntry);
        byType(entries);
        childMultiplier = multiplier * Math.max(1, entries.length);
      } else if (reachesConnection(selection.selectionSet, named, new Set())) {
        // A list's length matters only where something under it costs calls per item.
        if (coordinate === 'Query.pipelines') childMultiplier = multiplier * size('pipelines', 'pipelines');
        else if (coordinate === 'Query.users') childMultiplier = multiplier * size('users', 'users');
        else if (coordinate === 'Pipeline.statuses') childMultiplier = multiplier * size('statusesPerPipeline', 'pipelines');
      }
      walk(selection.selectionSet, named, childMultiplier, fieldPath, seen);
    }
  };
  walk(operation.selectionSet, root, 1, '', new Set());

  const leadIds = served.leads ? 0 : tally.leadIds.size;
  // The table's size matters only where it changes the price (V4: from five ids on).
  if (leadIds > 0 && sizes.leadBlocks === undefined && source.lookupCalls(leadIds, undefined) !== source.lookupCalls(leadIds, 1)) {
    needs.add('leadTable');
  }
  const lookups = leadIds > 0 ? source.lookupCalls(leadIds, sizes.leadBlocks) : 0;
  const tables = [...tally.tables].sort();
  return { calls: tally.blocks + lookups + tables.length, blocks: tally.blocks, leadIds, tables, needs };
}

function fieldOf(type: GraphQLCompositeType, field: FieldNode): GraphQLField<unknown, unknown> | undefined {
  if (field.name.value.startsWith('__')) return undefined;
  return isObjectType(type) || isInterfaceType(type) ? type.getFields()[field.name.value] : undefined;
}
