import type { RequestSignal } from './deadline.js';
import type { BlockReader, LeadSelection, PageSettings } from './pagination.js';
import { fingerprint } from './pagination.js';
import type { LeadAdapter, LeadBlock, Pipeline, Status, User } from './sources/adapter.js';

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
}

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

export function createContext(adapter: LeadAdapter, settings: PageSettings, { signal, deadline }: RequestSignal): Context {
  const blocks = new Map<string, Promise<LeadBlock>>();
  return {
    adapter,
    settings,
    signal,
    deadline,
    blocks(selection) {
      const print = fingerprint(selection);
      return (index) => {
        const key = `${print}:${index}`;
        let block = blocks.get(key);
        if (!block) {
          block = adapter.readLeadBlock(selection.query, index, signal);
          block.catch(() => blocks.delete(key));
          blocks.set(key, block);
        }
        return block;
      };
    },
    pipelineIndex: once(async () => {
      const pipelines = await adapter.listPipelines(signal);
      const statuses = new Map<string, Status>();
      for (const pipeline of pipelines) {
        for (const status of pipeline.statuses) statuses.set(statusKey(pipeline.kommoId, status.kommoId), status);
      }
      return { pipelines, byId: new Map(pipelines.map((pipeline) => [pipeline.kommoId, pipeline])), statuses };
    }),
    userIndex: once(async () => {
      const users = await adapter.listUsers(signal);
      return { users, byId: new Map(users.map((user) => [user.kommoId, user])) };
    }),
  };
}
