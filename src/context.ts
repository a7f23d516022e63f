import type { RequestSignal } from './deadline.js';
import type { TenantIndex } from './index/registry.js';
import type { BlockReader, LeadSelection, PageSettings } from './pagination.js';
import { fingerprint } from './pagination.js';
import type { Fact } from './plan.js';
import { blocksOf, type LeadAdapter, type LeadBlock, type Pipeline, type Status, type User } from './sources/adapter.js';
import type { MutableTableSizes } from './tenant-facts.js';
import type { CallAllowance } from './transport/call.js';

/** Reference tables of one request, fetched whole once and indexed. */
export interface PipelineIndex {
  readonly pipelines: readonly Pipeline[];
  readonly byId: ReadonlyMap<string, Pipeline>;
  /** Keyed by `statusKey(pipelineId, statusId)`: 142 and 143 exist in every pipeline. */
  readonly statuses: ReadonlyMap<string, Status>;
}

export interface UserIndex {
  readonly users: readonly User[];
  readonly byId: ReadonlyMap<string, User>;
}

/** Everything one GraphQL request needs, created fresh for it: nothing here outlives the request. */
export interface Context {
  /** The source adapter of this request's tenant. */
  readonly adapter: LeadAdapter;
  readonly settings: PageSettings;
  /** Aborted when the client goes away or the request's deadline passes; passed down to every upstream call. */
  readonly signal: AbortSignal;
  /** The deadline behind `signal`, held here so it lives as long as the request (see deadline.ts). */
  readonly deadline: AbortSignal;
  /** Block reader of a selection: windows of one request share upstream pages. */
  blocks(selection: LeadSelection): BlockReader;
  pipelineIndex(): Promise<PipelineIndex>;
  userIndex(): Promise<UserIndex>;
  /** What the gateway knows of this tenant's table sizes (the call plan's input); reads here keep it current. */
  readonly sizes: MutableTableSizes;
  /** The upstream calls this request may still cause: its limit, the plan's estimate, what it spent. */
  readonly allowance: CallAllowance;
  /** Reads what the call plan needs to know of a table (a read the request makes anyway; memoized like the others). */
  learn(fact: Fact): Promise<void>;
  /** The tenant's lead index when it serves (ready): lead queries, lookups and reference tables cost no upstream call. */
  readonly index: TenantIndex | null;
  /** What the request may expect of the index (LEADGRAPH_INDEX, LEADGRAPH_INDEX_WAIT_MS). */
  readonly indexing: IndexAccess;
  /**
   * The tenant's index, ready or not: started now when it may be. In multi-tenant mode, credentials the
   * upstream has not accepted yet are tried with one read the request makes anyway (the pipelines).
   * Null when the index is off.
   */
  openIndex(): Promise<TenantIndex | null>;
  /** Aborted when the client goes away or its response has ended; unlike `signal`, no deadline: a subscription lives on it. */
  readonly gone: AbortSignal;
  /** The live subscriptions of the gateway (limits, drain). */
  readonly live: LiveSubscriptions;
}

/** The gateway's live subscriptions: counted per tenant, ended all at once on shutdown. */
export interface LiveSubscriptions {
  /** `LEADGRAPH_MAX_SUBSCRIPTIONS_PER_TENANT`. */
  readonly maxPerTenant: number;
  /** True once the gateway drains: no new subscription starts. */
  readonly draining: boolean;
  /** Registers a subscription's end, called at drain; returns its removal. */
  add(end: () => void): () => void;
}

/** For contexts without subscriptions (tests that build contexts by hand). */
export const NO_LIVE: LiveSubscriptions = { maxPerTenant: 0, draining: false, add: () => () => undefined };

/** How a request reaches its tenant's lead index. */
export interface IndexAccess {
  /** `LEADGRAPH_INDEX` is on. */
  readonly enabled: boolean;
  /** `LEADGRAPH_INDEX_WAIT_MS`: how long a query that needs the index waits for it. */
  readonly waitMs: number;
  /** The tenant's index, started when it may be; null when off or not allowed (yet). */
  current(): TenantIndex | null;
}

/** Index access for a gateway without an index (LEADGRAPH_INDEX=off, and tests that build contexts by hand). */
export const NO_INDEX: IndexAccess = { enabled: false, waitMs: 0, current: () => null };

/** Extras of a request's context: the tenant's table sizes and the request's call allowance. */
export interface ContextScope {
  readonly sizes: MutableTableSizes;
  readonly allowance: CallAllowance;
  /** @default NO_INDEX */
  readonly indexing?: IndexAccess | undefined;
  /** @default the request's signal */
  readonly gone?: AbortSignal | undefined;
  /** @default NO_LIVE */
  readonly live?: LiveSubscriptions | undefined;
}

/** The unfiltered lead table: its first block tells how many blocks it has. */
const WHOLE_TABLE: LeadSelection = { query: {}, includeDeleted: false };

/** The entries of `map` for `keys` that exist (loaders with `sort` map them back to key order, null for the rest). */
export function entriesFor<T>(map: ReadonlyMap<string, T>, keys: readonly string[]): T[] {
  return keys.flatMap((key) => {
    const value = map.get(key);
    return value === undefined ? [] : [value];
  });
}

export function statusKey(pipelineId: string, statusId: string): string {
  return `${pipelineId}:${statusId}`;
}

/**
 * Memoizes an async function of no arguments for one request, failures included: the transport has
 * already retried what was worth retrying, and a second identical call would fail the same way.
 */
function once<T>(load: () => Promise<T>): () => Promise<T> {
  let promise: Promise<T> | undefined;
  return () => {
    promise ??= load();
    return promise;
  };
}

export function createContext(
  adapter: LeadAdapter,
  settings: PageSettings,
  { signal, deadline }: RequestSignal,
  { sizes, allowance, indexing = NO_INDEX, gone = signal, live = NO_LIVE }: ContextScope,
): Context {
  const blocks = new Map<string, Promise<LeadBlock>>();
  const found = indexing.current();
  // A request is served by one snapshot state: ready when it began, or not at all.
  const index = found?.ready ? found : null;
  const tables = index?.tables ?? null;
  const wholeTable = fingerprint(WHOLE_TABLE);
  // Multi-tenant mode: the index starts once the upstream has accepted the credentials. A read of this
  // request that succeeded has just proven them: start it now, not with the tenant's next request.
  const proven = (): void => {
    if (found === null && indexing.enabled) indexing.current();
  };
  const context: Context = {
    adapter,
    settings,
    signal,
    deadline,
    sizes,
    allowance,
    blocks(selection) {
      const print = fingerprint(selection);
      return (index) => {
        const key = `${print}:${index}`;
        let block = blocks.get(key);
        if (!block) {
          block = adapter.readLeadBlock(selection.query, index, signal);
          block.then(
            (read) => {
              proven();
              if (print === wholeTable && index === 0) {
                sizes.leadBlocks = blocksOf(read, adapter.blockSize);
              }
            },
            () => blocks.delete(key),
          );
          blocks.set(key, block);
        }
        return block;
      };
    },
    index,
    indexing,
    gone,
    live,
    async openIndex() {
      if (!indexing.enabled) return null;
      const current = indexing.current();
      if (current) return current;
      // Not accepted yet (multi-tenant): a read that proves the credentials, and that the request makes anyway.
      await context.pipelineIndex();
      return indexing.current();
    },
    pipelineIndex: once(async () => {
      const pipelines = tables?.pipelines ?? (await adapter.listPipelines(signal));
      proven();
      const statuses = new Map<string, Status>();
      for (const pipeline of pipelines) {
        for (const status of pipeline.statuses) statuses.set(statusKey(pipeline.kommoId, status.kommoId), status);
      }
      sizes.pipelines = pipelines.length;
      sizes.statuses = statuses.size;
      sizes.statusesPerPipeline = Math.max(0, ...pipelines.map((pipeline) => pipeline.statuses.length));
      return { pipelines, byId: new Map(pipelines.map((pipeline) => [pipeline.kommoId, pipeline])), statuses };
    }),
    userIndex: once(async () => {
      const users = tables?.users ?? (await adapter.listUsers(signal));
      proven();
      sizes.users = users.length;
      return { users, byId: new Map(users.map((user) => [user.kommoId, user])) };
    }),
    async learn(fact) {
      if (fact === 'leadTable') await context.blocks(WHOLE_TABLE)(0);
      else if (fact === 'pipelines') await context.pipelineIndex();
      else await context.userIndex();
    },
  };
  return context;
}
