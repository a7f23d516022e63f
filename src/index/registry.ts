/**
 * The lead indexes of one gateway process, one per tenant (credential and workspace): each a store
 * (store.ts) kept in step with its upstream by a sync (sync.ts) on a schedule of its own, through the
 * same transport and budget as client traffic but at background priority, within its own share of the
 * budget (transport/fair.ts). A tenant's index serves once its first full read has completed; until
 * then, and whenever it cannot (over its cap), the tenant's queries go pass-through.
 *
 * Multi-tenant mode: an index is started only for credentials the upstream has accepted (a wrong
 * secret is another tenant and never reaches a warm index), the least recently used one goes past
 * LEADGRAPH_INDEX_MAX_TENANTS, and one unused for LEADGRAPH_INDEX_IDLE_MINUTES is dropped.
 */
import type { Logger } from 'pino';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { IndexConfig } from '../config.js';
import { findDomainError } from '../errors.js';
import type { LeadAdapter, Pipeline, User } from '../sources/adapter.js';
import type { CallScope } from '../transport/call.js';
import type { JsonGetter } from '../transport/http.js';
import type { Tenant } from '../transport/tenant.js';
import type { Upstream } from '../transport/upstream.js';
import type { IndexRole, IndexShare } from './shared.js';
import { createLeadStore, IndexFullError, type LeadChangeEvent, type LeadStore } from './store.js';
import { createLeadSync, type LeadSync, type SyncReport } from './sync.js';

export type IndexState = 'syncing' | 'ready' | 'full' | 'failed';

/** The reference tables, read with the leads: the index serves them too. */
export interface IndexTables {
  readonly pipelines: readonly Pipeline[];
  /** Null when the source would not list them (a Kommo token without admin rights): users stay pass-through. */
  readonly users: readonly User[] | null;
  readonly readAt: number;
}

export interface TenantIndex {
  /** Short, non-reversible: the tenant's label in logs and metrics. */
  readonly label: string;
  readonly state: IndexState;
  /** It serves lead queries (its first full read completed, it is under its cap). */
  readonly ready: boolean;
  readonly store: LeadStore;
  /** When the snapshot was last refreshed: the upstream's changes before it are in. Null before the first read. */
  readonly dataAsOf: Date | null;
  readonly tables: IndexTables | null;
  /** True once ready; false when `waitMs` passes, `signal` aborts, or the index cannot be ready (over its cap). */
  whenReady(waitMs: number, signal?: AbortSignal): Promise<boolean>;
  /** Seconds a client should wait before asking again while the index is not ready. */
  retryAfterSeconds(): number;
  /** Why the last read failed (its error code and message), while it has not succeeded since. */
  readonly failure: { readonly code: string; readonly message: string } | null;
  /**
   * Told of each lead the index's refreshes see created, changed or deleted, with when; `onEnd` when the
   * index itself goes (dropped, or the gateway closes). Returns the unsubscribe.
   */
  watch(listener: ChangeListener, onEnd?: () => void): () => void;
  /** Listeners now (live subscriptions of this tenant). */
  readonly watchers: number;
}

export type ChangeListener = (change: LeadChangeEvent, at: Date) => void;

export interface IndexStatus {
  readonly state: 'off' | IndexState | 'none';
  readonly tenants: Readonly<Record<IndexState, number>>;
  /** Leads held, over all tenants. */
  readonly leads: number;
  /** The oldest snapshot's age in seconds (null before any is ready). */
  readonly ageSeconds: number | null;
  /** With replicas sharing Redis: tenants this replica reads the upstream for, replays, or syncs alone (Redis down). */
  readonly roles?: Readonly<Record<IndexRole, number>>;
}

export interface IndexRegistry {
  /**
   * The tenant's index, started now when there is none and it may have one (null when not: the index is
   * off, or, in multi-tenant mode, the upstream has not accepted these credentials yet).
   */
  of(tenant: Tenant, createAdapter: (transport: JsonGetter) => LeadAdapter): TenantIndex | null;
  status(): IndexStatus;
  /** Stops every schedule and pass in flight. */
  close(): void;
}

export interface IndexRegistryOptions {
  readonly config: IndexConfig;
  readonly upstream: Upstream;
  readonly logger: Logger;
  readonly registry: Registry;
  /** Requests bring their own credentials: index only accepted ones, evict idle ones. */
  readonly multiTenant: boolean;
  /** Whether the upstream has answered a tenant, credential and workspace, lately (multi-tenant mode). */
  readonly isAccepted: (tenantKey: string) => boolean;
  /** How often the reference tables are read again, at most (LEADGRAPH_CACHE_TTL_REFERENCE_SECONDS). */
  readonly tablesRefreshMs: number;
  /** @default Date.now */
  readonly clock?: () => number;
  /** Replicas sharing Redis: one reads a tenant's upstream, the others replay its passes (shared.ts). @default none */
  readonly share?: IndexShare | undefined;
}

/** Retry delays of a failed pass: doubled from the first, never past the refresh interval (nor a minute before the first read). */
const FIRST_RETRY_MS = 1000;
const MAX_FIRST_RETRY_MS = 60_000;
/** A progress line at most this often during a long read. */
const PROGRESS_LOG_MS = 5000;
const SWEEP_MS = 60_000;

interface Entry extends TenantIndex {
  lastUsed: number;
  readonly role: IndexRole | null;
  stop(): void;
}

export function createIndexRegistry(options: IndexRegistryOptions): IndexRegistry {
  const { config, logger } = options;
  const clock = options.clock ?? Date.now;
  const entries = new Map<string, Entry>();
  const registers = [options.registry];

  const leadsGauge = new Gauge({
    name: 'leadgraph_index_leads',
    help: 'Leads held by the lead index, per tenant (deleted ones included).',
    labelNames: ['tenant'],
    registers,
    collect() {
      this.reset();
      for (const entry of entries.values()) this.set({ tenant: entry.label }, entry.store.size);
    },
  });
  const ageGauge = new Gauge({
    name: 'leadgraph_index_age_seconds',
    help: 'Age of each tenant index snapshot: seconds since the refresh it was last brought up to date by.',
    labelNames: ['tenant'],
    registers,
    collect() {
      this.reset();
      for (const entry of entries.values()) {
        if (entry.dataAsOf) this.set({ tenant: entry.label }, (clock() - entry.dataAsOf.getTime()) / 1000);
      }
    },
  });
  if (options.share) {
    new Gauge({
      name: 'leadgraph_index_role',
      help: 'Replicas sharing Redis: 1 for the role this replica has for each tenant: leader (reads the upstream and publishes its passes), follower (replays them), solo (Redis down: reads by itself).',
      labelNames: ['tenant', 'role'],
      registers,
      collect() {
        this.reset();
        for (const entry of entries.values()) if (entry.role) this.set({ tenant: entry.label, role: entry.role }, 1);
      },
    });
  }
  new Gauge({
    name: 'leadgraph_index_tenants',
    help: 'Tenant indexes held, by state: syncing (first read under way), ready, failed (first read failed, retrying), full (over LEADGRAPH_INDEX_MAX_LEADS: pass-through).',
    labelNames: ['state'],
    registers,
    collect() {
      const counts = countStates();
      for (const [state, count] of Object.entries(counts)) this.set({ state }, count);
    },
  });
  const duration = new Histogram({
    name: 'leadgraph_index_sync_duration_seconds',
    help: 'Duration of lead index passes that completed: full reads and incremental refreshes.',
    labelNames: ['kind'],
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
    registers,
  });
  const failures = new Counter({
    name: 'leadgraph_index_refresh_failures_total',
    help: 'Lead index passes (full or incremental) that failed, per tenant: the index serves its last snapshot meanwhile.',
    labelNames: ['tenant'],
    registers,
  });
  const overCap = new Counter({
    name: 'leadgraph_index_over_cap_total',
    help: 'Tenants found larger than LEADGRAPH_INDEX_MAX_LEADS: they stay on pass-through.',
    registers,
  });

  const countStates = (): Record<IndexState, number> => {
    const counts: Record<IndexState, number> = { syncing: 0, ready: 0, failed: 0, full: 0 };
    for (const entry of entries.values()) counts[entry.state] += 1;
    return counts;
  };

  function start(tenant: Tenant, createAdapter: (transport: JsonGetter) => LeadAdapter): Entry {
    const log = logger.child({ index: tenant.label });
    // Its own client in the tenant's budget: fair shares cap it like any client, and clients go first.
    const scope: CallScope = { client: `${tenant.label}\u0000lead-index`, priority: 'background' };
    const adapter = createAdapter(options.upstream.transport(tenant, log, scope));
    const overlapMs = config.overlapMinutes * 60_000;
    const refreshMs = config.refreshSeconds * 1000;
    const fullMs = config.fullSyncMinutes * 60_000;
    const controller = new AbortController();
    let store = createLeadStore({ maxLeads: config.maxLeads });
    const shared = options.share?.join({ key: tenant.cacheKey, reader: adapter.indexReader, log });
    let sync: LeadSync;
    let lastProgressLog = 0;
    const makeSync = (): LeadSync =>
      createLeadSync({
        store,
        reader: shared?.reader ?? adapter.indexReader,
        overlapMs,
        clock: shared?.clock ?? clock,
        onPage: (progress) => {
          const at = clock();
          if (progress.kind !== 'full' || at - lastProgressLog < PROGRESS_LOG_MS) return;
          lastProgressLog = at;
          const seconds = Math.max(0.001, (at - progress.startedAt) / 1000);
          log.info(
            { pages: progress.pages, leads: progress.leads, leadsPerSecond: Math.round(progress.leads / seconds) },
            'lead index: full read in progress',
          );
        },
      });
    sync = makeSync();
    let state: IndexState = 'syncing';
    let dataAsOf: Date | null = null;
    let tables: IndexTables | null = null;
    let lastFull = 0;
    let retries = 0;
    let timer: NodeJS.Timeout | undefined;
    let nextRunAt = clock();
    let waiters: (() => void)[] = [];
    let lastFailure: { readonly code: string; readonly message: string } | null = null;
    const watchers = new Set<ChangeListener>();
    const enders = new Map<ChangeListener, () => void>();
    // The store tells of changes only while someone listens: a first read of 100,000 leads pays nothing for it.
    const fanOut = (change: LeadChangeEvent): void => {
      const at = new Date(clock());
      for (const listener of watchers) listener(change, at);
    };
    const listen = (): void => store.onChange(watchers.size > 0 ? fanOut : null);

    const schedule = (ms: number): void => {
      if (controller.signal.aborted) return;
      clearTimeout(timer);
      nextRunAt = clock() + ms;
      timer = setTimeout(() => void run(), ms);
      timer.unref();
    };
    const settle = (): void => {
      const woken = waiters;
      waiters = [];
      for (const wake of woken) wake();
    };

    async function readTables(): Promise<void> {
      const read = async (): Promise<IndexTables> => {
        const pipelines = await adapter.listPipelines(controller.signal);
        const users = await adapter.listUsers(controller.signal).catch((error: unknown) => {
          log.info({ code: findDomainError(error)?.code }, 'lead index: users not listed: they are read per request');
          return null;
        });
        return { pipelines, users, readAt: clock() };
      };
      try {
        tables = shared ? await shared.tables(read, controller.signal) : await read();
      } catch (error) {
        log.warn(
          { code: findDomainError(error)?.code, err: findDomainError(error) ? undefined : error },
          'lead index: reference tables not read',
        );
      }
    }

    async function run(): Promise<void> {
      const full = lastFull === 0 || clock() - lastFull >= fullMs;
      const began = performance.now();
      let report: SyncReport | null;
      try {
        if (shared) report = await shared.turn(sync, full, controller.signal);
        else report = full ? await sync.fullSync(controller.signal) : await sync.refresh(controller.signal);
      } catch (error) {
        if (controller.signal.aborted) return;
        if (error instanceof IndexFullError) {
          state = 'full';
          overCap.inc();
          log.warn(
            { maxLeads: config.maxLeads },
            'lead index: this tenant has more leads than LEADGRAPH_INDEX_MAX_LEADS: its queries stay pass-through; another read in LEADGRAPH_INDEX_FULL_SYNC_MINUTES',
          );
          // Nothing of it serves: the memory goes back now, and the next attempt starts from scratch.
          store = createLeadStore({ maxLeads: config.maxLeads });
          listen();
          sync = makeSync();
          shared?.reset();
          lastFull = 0;
          settle();
          schedule(fullMs);
          return;
        }
        failures.inc({ tenant: tenant.label });
        retries += 1;
        const domain = findDomainError(error);
        const first = state !== 'ready';
        if (first) state = 'failed';
        const delay = first ? Math.min(MAX_FIRST_RETRY_MS, refreshMs, FIRST_RETRY_MS * 2 ** Math.min(retries - 1, 10)) : refreshMs;
        log.warn(
          { kind: full ? 'full' : 'incremental', code: domain?.code, err: domain ? undefined : error, retryInSeconds: delay / 1000 },
          first
            ? 'lead index: first read failed: queries stay pass-through; it resumes where it stopped'
            : 'lead index: refresh failed: serving the last snapshot; it resumes where it stopped',
        );
        lastFailure = domain
          ? { code: domain.code, message: domain.message }
          : { code: 'INTERNAL_SERVER_ERROR', message: 'the read failed' };
        // These credentials cannot read this tenant (any more): nothing to retry for, in multi-tenant mode.
        if ((domain?.code === 'UPSTREAM_UNAUTHORIZED' || domain?.code === 'UPSTREAM_FORBIDDEN') && options.multiTenant) {
          drop(tenant.cacheKey);
          return;
        }
        schedule(delay);
        return;
      }
      // A follower with nothing new to replay: it looks again soon.
      if (report === null) {
        schedule(shared?.nextTurnMs(state === 'ready') ?? refreshMs);
        return;
      }
      const replayed = shared?.role === 'follower';
      if (!replayed) duration.observe({ kind: report.kind }, (performance.now() - began) / 1000);
      if (report.kind === 'full') {
        lastFull = clock();
        log.info(
          {
            pages: report.pages,
            leads: store.size,
            removed: report.removed,
            seconds: Math.round(performance.now() - began) / 1000,
            replayed,
          },
          'lead index: full read done',
        );
      } else if (report.changed + report.deleted > 0) {
        log.debug({ changed: report.changed, deleted: report.deleted }, 'lead index: refreshed');
      }
      if (report.kind === 'full' || !tables || clock() - tables.readAt >= options.tablesRefreshMs) await readTables();
      if (controller.signal.aborted) return;
      // The pass began at its watermark plus the overlap: what the upstream showed before then is in.
      dataAsOf = new Date(report.watermark.getTime() + overlapMs);
      state = 'ready';
      retries = 0;
      lastFailure = null;
      settle();
      schedule(shared?.nextTurnMs(true) ?? refreshMs);
    }

    const entry: Entry = {
      label: tenant.label,
      get state() {
        return state;
      },
      get ready() {
        return state === 'ready';
      },
      get store() {
        return store;
      },
      get dataAsOf() {
        return dataAsOf;
      },
      get tables() {
        return tables;
      },
      get failure() {
        return lastFailure;
      },
      get role() {
        return shared?.role ?? null;
      },
      lastUsed: clock(),
      whenReady(waitMs, signal) {
        if (state === 'ready') return Promise.resolve(true);
        if (state === 'full' || waitMs <= 0 || signal?.aborted) return Promise.resolve(false);
        return new Promise((resolve) => {
          const done = (): void => {
            clearTimeout(timeout);
            signal?.removeEventListener('abort', done);
            waiters = waiters.filter((waiter) => waiter !== done);
            resolve(state === 'ready');
          };
          const timeout = setTimeout(done, waitMs);
          signal?.addEventListener('abort', done, { once: true });
          waiters.push(done);
        });
      },
      watch(listener, onEnd) {
        watchers.add(listener);
        if (onEnd) enders.set(listener, onEnd);
        listen();
        return () => {
          watchers.delete(listener);
          enders.delete(listener);
          listen();
        };
      },
      get watchers() {
        return watchers.size;
      },
      retryAfterSeconds() {
        return Math.max(1, Math.ceil((state === 'failed' ? nextRunAt - clock() : config.waitMs) / 1000));
      },
      stop() {
        controller.abort();
        clearTimeout(timer);
        shared?.close();
        settle();
        // Its subscriptions end: they would wait for changes that never come (and hold this store).
        const ends = [...enders.values()];
        watchers.clear();
        enders.clear();
        store.onChange(null);
        for (const end of ends) end();
      },
    };
    log.info('lead index: first full read started');
    void run();
    return entry;
  }

  function drop(key: string): void {
    const entry = entries.get(key);
    if (!entry) return;
    entry.stop();
    entries.delete(key);
    failures.remove({ tenant: entry.label });
    leadsGauge.remove({ tenant: entry.label });
    ageGauge.remove({ tenant: entry.label });
  }

  const sweeper = options.multiTenant
    ? setInterval(() => {
        const horizon = clock() - config.idleMinutes * 60_000;
        for (const [key, entry] of entries) {
          // A live subscription is use: its index stays.
          if (entry.lastUsed < horizon && entry.watchers === 0) {
            logger.info({ index: entry.label }, 'lead index: dropped, unused for LEADGRAPH_INDEX_IDLE_MINUTES');
            drop(key);
          }
        }
      }, SWEEP_MS)
    : undefined;
  sweeper?.unref();

  return {
    of(tenant, createAdapter) {
      if (!config.enabled) return null;
      const known = entries.get(tenant.cacheKey);
      if (known) {
        known.lastUsed = clock();
        // Most recently used last: the first entry is the one to evict.
        entries.delete(tenant.cacheKey);
        entries.set(tenant.cacheKey, known);
        return known;
      }
      if (options.multiTenant && !options.isAccepted(tenant.cacheKey)) return null;
      while (entries.size >= config.maxTenants) {
        // The least recently used without live subscriptions goes first; only when all have some, the oldest.
        const idle = [...entries].find(([, candidate]) => candidate.watchers === 0)?.[0];
        const oldest = idle ?? (entries.keys().next().value as string);
        logger.info({ index: entries.get(oldest)?.label }, 'lead index: dropped, the least recently used past LEADGRAPH_INDEX_MAX_TENANTS');
        drop(oldest);
      }
      const entry = start(tenant, createAdapter);
      entries.set(tenant.cacheKey, entry);
      return entry;
    },
    status() {
      const tenants = countStates();
      let leads = 0;
      let oldest: number | null = null;
      for (const entry of entries.values()) {
        leads += entry.store.size;
        const at = entry.dataAsOf?.getTime();
        if (at !== undefined && (oldest === null || at < oldest)) oldest = at;
      }
      const only = entries.size === 1 ? [...entries.values()][0] : undefined;
      const roles: Record<IndexRole, number> = { leader: 0, follower: 0, solo: 0 };
      for (const entry of entries.values()) if (entry.role) roles[entry.role] += 1;
      return {
        state: !config.enabled ? 'off' : only ? only.state : entries.size === 0 ? 'none' : tenants.ready > 0 ? 'ready' : 'syncing',
        tenants,
        leads,
        ageSeconds: oldest === null ? null : Math.round((clock() - oldest) / 1000),
        ...(options.share ? { roles } : {}),
      };
    },
    close() {
      if (sweeper) clearInterval(sweeper);
      for (const key of [...entries.keys()]) drop(key);
    },
  };
}
