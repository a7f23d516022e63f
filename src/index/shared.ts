/**
 * A tenant's lead index across replicas that share a Redis (LEADGRAPH_REDIS_URL): one replica at a time
 * reads the upstream for the tenant (the leader: it holds a Redis lock, renewed while it holds it), and
 * publishes every pass it makes: each page it read, compressed and chunked under the value limit, then a
 * record of the pass appended to the tenant's pass log. The other replicas (followers) replay the log's
 * passes in order through their own sync, over a reader that serves the published pages and with the
 * sync's clock at the leader's pass start: merging, deletions and removals run exactly as on the leader,
 * and the watermark is the leader's, so a follower that takes over goes on incrementally from it.
 *
 * A pass record names the record its leader applied before it: a follower applies an incremental pass
 * only on top of that one (a full pass on top of anything). One that cannot (it joined after the last full
 * pass left the log, or two leaders overlapped) asks the leader for a full pass. While Redis is down,
 * every replica syncs by itself (solo), as without Redis.
 */
import { createHash, randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { gunzip, gzip } from 'node:zlib';
import type { Logger } from 'pino';
import type { IndexConfig } from '../config.js';
import type { Lead } from '../sources/adapter.js';
import type { SharedData, SharedStore } from '../transport/shared.js';
import type { IndexTables } from './registry.js';
import type { LeadReader, LeadSync, ReaderPage, SyncReport } from './sync.js';

export type IndexRole = 'leader' | 'follower' | 'solo';

export interface IndexShareOptions {
  readonly store: Pick<SharedStore, 'up' | 'lock' | 'unlock'> & SharedData;
  readonly config: IndexConfig;
  /** How often the reference tables are read again (their published copy lives twice as long). */
  readonly tablesRefreshMs: number;
  /** How long the leader's lock lives without a renewal: a dead leader is replaced after it. @default 15_000 */
  readonly lockMs?: number;
  /** @default Date.now */
  readonly clock?: () => number;
}

export interface IndexShare {
  /** The share of one tenant's index; `reader` is the upstream's. */
  join(tenant: { readonly key: string; readonly reader: LeadReader; readonly log: Logger }): TenantShare;
  /** Waits for the locks being let go (closed tenants). */
  close(): Promise<void>;
}

export interface TenantShare {
  readonly role: IndexRole;
  /** The tenant sync's reader: the upstream while this replica reads it, the published pages while it replays. */
  readonly reader: LeadReader;
  /** The tenant sync's clock: the leader's pass start while this replica replays the pass. */
  readonly clock: () => number;
  /**
   * One turn of the schedule: catches up with the passes published since the last turn, then, leading
   * (or solo), makes a pass of its own (full when `full`) and publishes it. Null: nothing was applied.
   */
  turn(sync: LeadSync, full: boolean, signal: AbortSignal): Promise<SyncReport | null>;
  /** The reference tables: a follower takes the leader's (waiting a little for them); the others `read` them and publish them. */
  tables(read: () => Promise<IndexTables>, signal: AbortSignal): Promise<IndexTables>;
  /** Milliseconds until the next turn: the refresh interval while reading, a short poll while following. */
  nextTurnMs(ready: boolean): number;
  /** The store was emptied and its sync replaced: nothing is applied any more. */
  reset(): void;
  /** Stops renewing the lock and lets go of it. */
  close(): void;
}

interface PassRecord {
  readonly id: string;
  /** The record its leader had applied before this pass: an incremental pass applies on top of it only. */
  readonly prev: string | null;
  readonly kind: SyncReport['kind'];
  /** When the pass began, on the leader's clock. */
  readonly started: number;
  /** Chunks of each page, in page order. */
  readonly pages: readonly number[];
  /** Kommo: the ids the pass listed as deleted. */
  readonly deleted: readonly string[] | null;
}

interface Recording {
  readonly id: string;
  readonly since: number | null;
  readonly pages: number[];
  readonly writes: Promise<boolean>[];
  /** Compressed bytes written. */
  bytes: number;
  deleted: readonly string[] | null;
  broken: boolean;
}

/** A published page or chunk is gone (expired, trimmed, Redis down): the replay stops, the next turn looks again. */
class ReplayGap extends Error {}

const DEFAULT_LOCK_MS = 15_000;
/** Records kept in a log; a newer full pass drops every record before it. */
const MAX_RECORDS = 500;
/** How long a replica waits at start for Redis before it reads the upstream by itself. */
const CONNECT_GRACE_MS = 5000;
const FOLLOW_WARMING_MS = 1000;
const FOLLOW_READY_MS = 5000;
const TABLES_WAIT_MS = 5000;
const TABLES_POLL_MS = 100;

const gzipAsync = promisify(gzip);
const gunzipAsync = promisify(gunzip);

async function encodePage(leads: readonly Lead[], maxBytes: number): Promise<Buffer[]> {
  const packed = await gzipAsync(JSON.stringify(leads), { level: 6 });
  const chunks: Buffer[] = [];
  for (let at = 0; at < packed.length || chunks.length === 0; at += maxBytes) chunks.push(packed.subarray(at, at + maxBytes));
  return chunks;
}

type WireLead = Omit<Lead, 'createdAt' | 'updatedAt' | 'closedAt' | 'closestTaskAt'> & {
  readonly createdAt: string;
  readonly updatedAt: string;
  readonly closedAt: string | null;
  readonly closestTaskAt: string | null;
};

async function decodePage(chunks: readonly Buffer[]): Promise<Lead[]> {
  const wire = JSON.parse(String(await gunzipAsync(Buffer.concat(chunks)))) as WireLead[];
  return wire.map((lead) => ({
    ...lead,
    createdAt: new Date(lead.createdAt),
    updatedAt: new Date(lead.updatedAt),
    closedAt: lead.closedAt === null ? null : new Date(lead.closedAt),
    closestTaskAt: lead.closestTaskAt === null ? null : new Date(lead.closestTaskAt),
  }));
}

/** Several replayed passes as one report for the registry: full when one of them was. */
function combine(before: SyncReport | null, next: SyncReport): SyncReport {
  if (!before) return next;
  return {
    kind: before.kind === 'full' || next.kind === 'full' ? 'full' : 'incremental',
    since: before.since,
    pages: before.pages + next.pages,
    leadsRead: before.leadsRead + next.leadsRead,
    changed: before.changed + next.changed,
    deleted: before.deleted + next.deleted,
    removed: before.removed + next.removed,
    watermark: next.watermark,
  };
}

export function createIndexShare(options: IndexShareOptions): IndexShare {
  const { store, config } = options;
  const baseClock = options.clock ?? Date.now;
  const lockMs = options.lockMs ?? DEFAULT_LOCK_MS;
  const overlapMs = config.overlapMinutes * 60_000;
  const refreshMs = config.refreshSeconds * 1000;
  const fullMs = config.fullSyncMinutes * 60_000;
  // Longer than a full-sync interval: the last full pass and the passes after it stay replayable.
  const logTtlMs = 2 * fullMs + 10 * 60_000;
  const tablesTtlMs = 2 * options.tablesRefreshMs;
  const releases = new Set<Promise<void>>();

  function join(tenant: { readonly key: string; readonly reader: LeadReader; readonly log: Logger }): TenantShare {
    const { log, reader: upstream } = tenant;
    const space = `index:${createHash('sha256').update(tenant.key).digest('hex').slice(0, 32)}`;
    const lockKey = space;
    const logKey = `${space}:log`;
    const headKey = `${space}:head`;
    const wantKey = `${space}:want-full`;
    const tablesKey = `${space}:tables`;
    const pageKey = (id: string, page: number, chunk: number): string => `${space}:page:${id}:${page}:${chunk}`;
    const pageKeys = (record: Pick<PassRecord, 'id' | 'pages'>): string[] =>
      record.pages.flatMap((chunks, page) => Array.from({ length: chunks }, (_, chunk) => pageKey(record.id, page, chunk)));

    const joinedAt = baseClock();
    let role: IndexRole = 'follower';
    let token: string | null = null;
    let renewTimer: NodeJS.Timeout | undefined;
    let sawRedis = false;
    let closed = false;
    /** The last record applied here (replayed or published). */
    let appliedId: string | null = null;
    let replaying: PassRecord | null = null;
    let publishing = false;
    let recording: Recording | null = null;
    /** A pass was not published whole: the next one is full, so followers can start over from it. */
    let mustFull = false;

    const setRole = (next: IndexRole, message: string): void => {
      if (next === role) return;
      role = next;
      log.info({ role }, message);
    };

    const lose = (): void => {
      token = null;
      clearInterval(renewTimer);
      setRole('follower', 'lead index: another replica holds this tenant now: replaying its passes');
    };

    async function claim(): Promise<void> {
      if (token !== null) {
        if (await store.renew(lockKey, token, lockMs)) return;
        lose();
      }
      const taken = await store.lock(lockKey, lockMs);
      if (taken === null) {
        setRole('follower', 'lead index: another replica reads the upstream for this tenant: replaying its passes');
        return;
      }
      token = taken;
      setRole('leader', 'lead index: this replica reads the upstream for this tenant and publishes its passes');
      clearInterval(renewTimer);
      renewTimer = setInterval(() => {
        const held = token;
        if (held === null) return;
        void store.renew(lockKey, held, lockMs).then((renewed) => {
          // While Redis is down the lock means nothing; the next turn syncs alone.
          if (!renewed && store.up && token === held) lose();
        });
      }, lockMs / 3);
      renewTimer.unref();
    }

    async function recordPage(since: Date | null, page: number, signal: AbortSignal | undefined): Promise<ReaderPage> {
      const result = await upstream.readPage(since, page, signal);
      if (!publishing) return result;
      const sinceMs = since?.getTime() ?? null;
      if (page === 0 || !recording || recording.since !== sinceMs) {
        // A pass resumed past its first page with nothing recorded of its start cannot be published whole.
        recording = { id: randomUUID(), since: sinceMs, pages: [], writes: [], bytes: 0, deleted: null, broken: page !== 0 };
      }
      const rec = recording;
      if (!rec.broken) {
        // Written while the sync goes on; the record is appended once every write is done.
        rec.writes.push(
          encodePage(result.leads, store.maxValueBytes).then((chunks) => {
            rec.pages[page] = chunks.length;
            for (const chunk of chunks) rec.bytes += chunk.length;
            return store.write(
              chunks.map((chunk, index) => [pageKey(rec.id, page, index), chunk] as const),
              logTtlMs,
            );
          }),
        );
      }
      return result;
    }

    async function replayPage(record: PassRecord, page: number): Promise<ReaderPage> {
      const chunks = record.pages[page];
      if (chunks === undefined) return { leads: [], hasMore: false };
      const buffers = await store.readBuffers(Array.from({ length: chunks }, (_, chunk) => pageKey(record.id, page, chunk)));
      if (!buffers || buffers.some((buffer) => buffer === null)) throw new ReplayGap(`page ${page} of pass ${record.id} is gone`);
      return { leads: await decodePage(buffers as Buffer[]), hasMore: page + 1 < record.pages.length };
    }

    const reader: LeadReader = {
      readPage: (since, page, signal) => (replaying ? replayPage(replaying, page) : recordPage(since, page, signal)),
      ...(upstream.readDeleted
        ? {
            readDeleted: async (since: Date, signal?: AbortSignal) => {
              if (replaying) return replaying.deleted ?? [];
              const ids = await (upstream.readDeleted as NonNullable<LeadReader['readDeleted']>)(since, signal);
              if (publishing && recording?.since === since.getTime()) recording.deleted = ids;
              return ids;
            },
          }
        : {}),
    };

    async function replay(sync: LeadSync, record: PassRecord, signal: AbortSignal): Promise<SyncReport> {
      replaying = record;
      try {
        return record.kind === 'full' ? await sync.fullSync(signal) : await sync.refresh(signal);
      } finally {
        replaying = null;
      }
    }

    const requestFull = async (): Promise<void> => {
      await store.write([[wantKey, '1']], fullMs);
    };

    /** Applies the records published since the last one applied here, in order. */
    async function catchUp(sync: LeadSync, signal: AbortSignal): Promise<SyncReport | null> {
      const head = await store.readString(headKey);
      if (head === undefined || head === null || head === appliedId) return null;
      const raw = await store.list(logKey);
      if (!raw) return null;
      const records = raw.map((item) => JSON.parse(item) as PassRecord);
      const at = appliedId === null ? -1 : records.findIndex((record) => record.id === appliedId);
      let from = at + 1;
      if (sync.watermark === null || at < 0) {
        // Nothing here to build on: the last full pass, and what followed it.
        from = records.findLastIndex((record) => record.kind === 'full');
        if (from < 0) {
          if (role !== 'leader') await requestFull();
          return null;
        }
      }
      let report: SyncReport | null = null;
      for (const record of records.slice(from)) {
        if (record.kind === 'incremental' && (record.prev !== appliedId || sync.watermark === null)) continue;
        try {
          report = combine(report, await replay(sync, record, signal));
        } catch (error) {
          if (!(error instanceof ReplayGap)) throw error;
          // What it replayed of this record must not be resumed on another one.
          sync.abandon();
          log.info({ reason: error.message }, 'lead index: a published pass could not be replayed: looking again on the next turn');
          return report;
        }
        appliedId = record.id;
      }
      // A pass this replica cannot apply (a gap in the log, two leaders at once): the leader's next pass is full.
      if (role !== 'leader' && appliedId !== records.at(-1)?.id) await requestFull();
      return report;
    }

    async function publish(report: SyncReport): Promise<void> {
      const rec = recording;
      recording = null;
      const sinceMs = report.since?.getTime() ?? null;
      const written = rec && !rec.broken && rec.since === sinceMs ? await Promise.all(rec.writes) : [false];
      if (!rec || written.includes(false)) {
        // Followers cannot chain onto a pass they never saw: they ask for a full pass, and this replica makes one.
        appliedId = `unpublished:${randomUUID()}`;
        mustFull = true;
        if (rec) void store.remove(pageKeys(rec));
        log.warn({ kind: report.kind }, 'lead index: a pass could not be published in Redis: the next pass is a full one');
        return;
      }
      const record: PassRecord = {
        id: rec.id,
        prev: appliedId,
        kind: report.kind,
        started: report.watermark.getTime() + overlapMs,
        pages: rec.pages,
        deleted: rec.deleted,
      };
      // A full pass is all a follower needs: the records before it go, and their pages with them.
      const before = report.kind === 'full' ? await store.list(logKey) : null;
      const appended =
        (await store.append(logKey, JSON.stringify(record), report.kind === 'full' ? 1 : MAX_RECORDS, logTtlMs)) &&
        (await store.write([[headKey, record.id]], logTtlMs));
      if (!appended) {
        appliedId = `unpublished:${rec.id}`;
        mustFull = true;
        log.warn({ kind: report.kind }, 'lead index: a pass could not be published in Redis: the next pass is a full one');
        return;
      }
      appliedId = record.id;
      mustFull = false;
      log.debug({ kind: record.kind, pages: record.pages.length, bytes: rec.bytes }, 'lead index: pass published');
      if (before) void store.remove(before.flatMap((item) => pageKeys(JSON.parse(item) as PassRecord)));
    }

    async function own(sync: LeadSync, full: boolean, signal: AbortSignal, share: boolean): Promise<SyncReport> {
      publishing = share;
      let report: SyncReport;
      try {
        report = full ? await sync.fullSync(signal) : await sync.refresh(signal);
      } finally {
        publishing = false;
      }
      if (share) await publish(report);
      return report;
    }

    return {
      get role() {
        return role;
      },
      reader,
      clock: () => (replaying ? replaying.started : baseClock()),
      async turn(sync, full, signal) {
        if (!store.up) {
          // At start the connection may not be up yet: a short wait spares the upstream a read per replica.
          if (!sawRedis && baseClock() - joinedAt < CONNECT_GRACE_MS) return null;
          setRole('solo', 'lead index: Redis is unreachable: this replica reads the upstream for this tenant by itself');
          return own(sync, full, signal, false);
        }
        sawRedis = true;
        if (role === 'solo' && sync.watermark !== null) {
          // What it read alone is at least as fresh as the log: it follows from the log's head on.
          const head = await store.readString(headKey);
          if (head !== undefined) appliedId = head;
        }
        await claim();
        const caughtUp = await catchUp(sync, signal);
        if (role !== 'leader' || caughtUp) return caughtUp;
        const wanted = (await store.readString(wantKey)) === '1';
        if (wanted) await store.remove([wantKey]);
        return own(sync, full || wanted || mustFull, signal, true);
      },
      async tables(read, signal) {
        if (role === 'follower') {
          const until = baseClock() + TABLES_WAIT_MS;
          for (;;) {
            const published = await store.readString(tablesKey);
            if (published) return JSON.parse(published) as IndexTables;
            if (published === undefined || baseClock() >= until || signal.aborted) break;
            await sleep(TABLES_POLL_MS, undefined, { signal }).catch(() => undefined);
          }
        }
        const tables = await read();
        if (role === 'leader') await store.write([[tablesKey, JSON.stringify(tables)]], tablesTtlMs);
        return tables;
      },
      nextTurnMs(ready) {
        if (role === 'follower') return Math.min(refreshMs, ready ? FOLLOW_READY_MS : FOLLOW_WARMING_MS);
        return refreshMs;
      },
      reset() {
        appliedId = null;
        recording = null;
      },
      close() {
        if (closed) return;
        closed = true;
        clearInterval(renewTimer);
        const held = token;
        token = null;
        if (held === null) return;
        const release = store.unlock(lockKey, held).finally(() => releases.delete(release));
        releases.add(release);
      },
    };
  }

  return {
    join,
    async close() {
      await Promise.all([...releases]);
    },
  };
}
