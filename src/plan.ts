/**
 * The upstream call plan: from the document, its variables and the schema, the upstream calls a
 * request can cause, before any is made. What costs a call:
 * - a lead connection: the blocks its page spans (`ceil((size + 1) / blockSize)`), one more when it
 *   starts at a cursor or pages backward, one more for `totalCount` (two with a cursor). A connection
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
 * The walk visits each fragment once per multiplier it is spread under, and runs after the cost limit
 * (plugins/limits.ts), which bounds the document's expanded size: its work is bounded by LEADGRAPH_MAX_COST.
 */
import {
  type DocumentNode,
  type FieldNode,
  type FragmentDefinitionNode,
  type GraphQLCompositeType,
  type GraphQLField,
  type GraphQLSchema,
  getNamedType,
  isCompositeType,
  isInterfaceType,
  isObjectType,
  Kind,
  type OperationDefinitionNode,
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
  readonly lookupsNeedTableSize: boolean;
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
}

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

interface Tally {
  blocks: number;
  leadIds: number;
  readonly tables: Set<'pipelines' | 'users'>;
}

export function planCalls(input: PlanInput): CallPlan {
  const { schema, document, source, sizes } = input;
  const variables = input.variables ?? {};
  const operation = document.definitions.find(
    (d): d is OperationDefinitionNode =>
      d.kind === Kind.OPERATION_DEFINITION && (!input.operationName || d.name?.value === input.operationName),
  );
  const needs = new Set<Fact>();
  const tally: Tally = { blocks: 0, leadIds: 0, tables: new Set() };
  if (!operation) return { calls: 0, blocks: 0, leadIds: 0, tables: [], needs };
  const root = schema.getRootType(operation.operation);
  if (!root) return { calls: 0, blocks: 0, leadIds: 0, tables: [], needs };

  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const d of document.definitions) if (d.kind === Kind.FRAGMENT_DEFINITION) fragments.set(d.name.value, d);

  const size = (name: keyof typeof ASSUMED, fact: Fact): number => {
    const known = sizes[name];
    if (known !== undefined) return Math.max(0, known);
    needs.add(fact);
    return ASSUMED[name];
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
          found = reachesConnection(
            fragment.selectionSet,
            conditionOf(fragment.typeCondition.name.value) ?? type,
            new Set([...seen, fragment.name.value]),
          );
        }
      }
    }
    reaching.set(set, found);
    return found;
  };

  const conditionOf = (name: string | undefined): GraphQLCompositeType | null => {
    if (!name) return null;
    const type = schema.getType(name);
    return type && isCompositeType(type) ? type : null;
  };

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
    if (field.selectionSet?.selections.some((s) => s.kind === Kind.FIELD && s.name.value === 'totalCount')) blocks += cursor ? 2 : 1;
    return { blocks, pageSize };
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
  const byType = (typenames: readonly string[], multiplier: number): void => {
    for (const typename of typenames) {
      const table = TABLE_OF_TYPE[typename];
      if (table === 'leads') tally.leadIds += multiplier;
      else if (table) tally.tables.add(table);
    }
  };

  const memo = new Map<string, { blocks: number; leadIds: number; tables: readonly ('pipelines' | 'users')[] }>();
  const walk = (set: SelectionSetNode | undefined, type: GraphQLCompositeType, multiplier: number, seen: ReadonlySet<string>): void => {
    if (!set || multiplier <= 0) return;
    for (const selection of set.selections) {
      if (selection.kind === Kind.INLINE_FRAGMENT) {
        walk(selection.selectionSet, conditionOf(selection.typeCondition?.name.value) ?? type, multiplier, seen);
        continue;
      }
      if (selection.kind === Kind.FRAGMENT_SPREAD) {
        const fragment = fragments.get(selection.name.value);
        if (!fragment || seen.has(fragment.name.value)) continue;
        // Spread twice under the same multiplier (and parent), a fragment costs twice: tally it again, but
        // from the first walk's result, so a fragment that spreads the next one twice, twenty deep, is linear.
        const key = `${fragment.name.value}\u0000${type.name}\u0000${multiplier}`;
        const before = { blocks: tally.blocks, leadIds: tally.leadIds };
        const cached = memo.get(key);
        if (cached) {
          tally.blocks += cached.blocks;
          tally.leadIds += cached.leadIds;
          for (const table of cached.tables) tally.tables.add(table);
          continue;
        }
        const tablesBefore = new Set(tally.tables);
        walk(
          fragment.selectionSet,
          conditionOf(fragment.typeCondition.name.value) ?? type,
          multiplier,
          new Set([...seen, fragment.name.value]),
        );
        memo.set(key, {
          blocks: tally.blocks - before.blocks,
          leadIds: tally.leadIds - before.leadIds,
          tables: [...tally.tables].filter((table) => !tablesBefore.has(table)),
        });
        continue;
      }
      const definition = fieldOf(type, selection);
      if (!definition) continue;
      const named = getNamedType(definition.type);
      const coordinate = `${type.name}.${selection.name.value}`;
      input.check?.(coordinate, (name) => argument(selection, definition, name));
      const table = TABLE_OF_FIELD[coordinate];
      if (table) tally.tables.add(table);
      if (!isCompositeType(named)) continue;

      let childMultiplier = multiplier;
      if (named.name === CONNECTION) {
        const { blocks, pageSize } = connection(selection, definition);
        const pages = distinct(type, multiplier);
        tally.blocks += pages * blocks;
        childMultiplier = pages * pageSize;
      } else if (coordinate === 'Query.lead') {
        tally.leadIds += multiplier;
      } else if (coordinate === 'Query.node') {
        const id = argument(selection, definition, 'id');
        const parsed = typeof id === 'string' ? parseGlobalId(id) : null;
        byType(parsed ? [parsed.typename] : [], multiplier);
      } else if (coordinate === 'Query.nodes') {
        const ids = argument(selection, definition, 'ids');
        const typenames = (Array.isArray(ids) ? ids : []).flatMap((id) => {
          const parsed = typeof id === 'string' ? parseGlobalId(id) : null;
          return parsed ? [parsed.typename] : [];
        });
        byType(typenames, multiplier);
        childMultiplier = multiplier * Math.max(1, typenames.length);
      } else if (coordinate === 'Query._entities') {
        const representations = argument(selection, definition, 'representations');
        const typenames = (Array.isArray(representations) ? representations : []).flatMap((representation) => {
          const typename = (representation as { __typename?: unknown } | null)?.__typename;
          return typeof typename === 'string' ? [typename] : [];
        });
        byType(typenames, multiplier);
        childMultiplier = multiplier * Math.max(1, typenames.length);
      } else if (reachesConnection(selection.selectionSet, named, new Set())) {
        // A list's length matters only where something under it costs calls per item.
        if (coordinate === 'Query.pipelines') childMultiplier = multiplier * size('pipelines', 'pipelines');
        else if (coordinate === 'Query.users') childMultiplier = multiplier * size('users', 'users');
        else if (coordinate === 'Pipeline.statuses') childMultiplier = multiplier * size('statusesPerPipeline', 'pipelines');
      }
      walk(selection.selectionSet, named, childMultiplier, seen);
    }
  };
  walk(operation.selectionSet, root, 1, new Set());
  // The table's size matters only where it changes the price (V4: from five ids on).
  if (
    tally.leadIds > 0 &&
    source.lookupsNeedTableSize &&
    sizes.leadBlocks === undefined &&
    source.lookupCalls(tally.leadIds, undefined) !== source.lookupCalls(tally.leadIds, 1)
  ) {
    needs.add('leadTable');
  }
  const lookups = tally.leadIds > 0 ? source.lookupCalls(tally.leadIds, sizes.leadBlocks) : 0;
  const tables = [...tally.tables].sort();
  return { calls: tally.blocks + lookups + tables.length, blocks: tally.blocks, leadIds: tally.leadIds, tables, needs };
}

function fieldOf(type: GraphQLCompositeType, field: FieldNode): GraphQLField<unknown, unknown> | undefined {
  if (field.name.value.startsWith('__')) return undefined;
  return isObjectType(type) || isInterfaceType(type) ? type.getFields()[field.name.value] : undefined;
}
