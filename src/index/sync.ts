/**
 * Keeps a tenant's lead store in step with its upstream: one full read, then incremental refreshes of
 * the leads modified since a watermark. Transport-agnostic: the upstream is a `LeadReader`.
 *
 * The watermark comes from our own clock, taken when a pass starts, minus an overlap, never from the
 * newest `updated_at` seen: rows can carry an `updated_at` ahead of our clock, and a warehouse can load
 * a change hours after the time it carries. Re-reading the overlap costs little: unchanged rows change
 * nothing in the store (no new version).
 */
import { type Lead, mergeLeadFragments } from '../sources/adapter.js';
import type { LeadStore } from './store.js';

export interface ReaderPage {
  readonly leads: readonly Lead[];
  readonly hasMore: boolean;
}

/** What the sync needs of an upstream, per tenant. */
export interface LeadReader {
  /**
   * Page `page` (0-based) of the leads modified at or after `since` (every lead when null), deleted ones
   * included where the upstream lists them. A lead's rows (V4: one per tag) are adjacent; they may
   * straddle two pages.
   */
  readPage(since: Date | null, page: number, signal?: AbortSignal): Promise<ReaderPage>;
  /** The ids of leads deleted since `since`, for an upstream that leaves them out of `readPage` (Kommo). */
  readDeleted?(since: Date, signal?: AbortSignal): Promise<readonly string[]>;
}

export interface LeadSyncOptions {
  readonly store: LeadStore;
  readonly reader: LeadReader;
  /**
   * Subtracted from a pass's start to make the next watermark: it must cover clock skew and, for a
   * warehouse, its load delay (V4: hours; Kommo: minutes).
   */
  readonly overlapMs: number;
  /** Pages one pass reads at most (a guard against an upstream that never says it is done). @default 1000 */
  readonly maxPages?: number;
  /** @default Date.now */
  readonly clock?: () => number;
  /** Told after each page (progress logs). */
  readonly onPage?: (progress: SyncProgress) => void;
}

export interface SyncProgress {
  readonly kind: SyncReport['kind'];
  /** Pages read by the pass so far, and distinct leads in them. */
  readonly pages: number;
  readonly leads: number;
  /** When the pass started (the clock's ms). */
  readonly startedAt: number;
}

interface Pass {
  readonly kind: SyncReport['kind'];
  readonly since: Date | null;
  readonly started: number;
  /** The next page to read. */
  page: number;
  readonly seen: Set<string>;
  carried: Lead[];
  pages: number;
  changed: number;
}

export interface SyncReport {
  readonly kind: 'full' | 'incremental';
  /** The watermark the pass read from (null for a full read). */
  readonly since: Date | null;
  readonly pages: number;
  /** Leads read (fragments of one lead merged). */
  readonly leadsRead: number;
  /** Leads added or changed in the store. */
  readonly changed: number;
  /** Leads marked deleted from the upstream's list of deletions. */
  readonly deleted: number;
  /** Leads forgotten: absent from two full reads in a row. */
  readonly removed: number;
  /** The watermark the next refresh reads from. */
  readonly watermark: Date;
}

export interface LeadSync {
  /** Null until a full read has succeeded. */
  readonly watermark: Date | null;
  /**
   * Reads every lead. A lead absent from this read and the full read before it is removed (an absence
   * in one read alone may be a row skipped while the upstream's pages shifted). A lead held as deleted
   * stays where the upstream lists deletions apart (`readDeleted`): its normal list never has it.
   */
  fullSync(signal?: AbortSignal): Promise<SyncReport>;
  /** Reads the leads modified since the watermark (a full read when there is none yet). */
  refresh(signal?: AbortSignal): Promise<SyncReport>;
  /** Forgets a pass that failed part-way: the next one starts from its first page (its source changed). */
  abandon(): void;
}

export const DEFAULT_SYNC_MAX_PAGES = 1000;
/** Full reads made again at most, when deletions during one shifted its pages (see `full`). */
const MAX_FULL_REREADS = 2;

export function createLeadSync(options: LeadSyncOptions): LeadSync {
  const { store, reader, overlapMs } = options;
  const clock = options.clock ?? Date.now;
  const maxPages = options.maxPages ?? DEFAULT_SYNC_MAX_PAGES;
  let watermark: Date | null = null;
  /** Ids the last full read did not see: removed if the next one does not see them either. */
  let suspects = new Set<string>();
  let running: Promise<SyncReport> | null = null;
  /** The pass that failed part-way, resumed by the next pass of its kind. */
  let pending: Pass | null = null;

  /**
   * Reads every page from `since` into the store; returns the ids seen. A pass that fails part-way is
   * kept: the next pass of the same kind resumes at the page that failed (what it read is in the store).
   */
  async function readAll(kind: SyncReport['kind'], since: Date | null, signal: AbortSignal | undefined): Promise<Pass> {
    const same = pending && pending.kind === kind && pending.since?.getTime() === since?.getTime();
    const pass: Pass =
      same && pending ? pending : { kind, since, started: clock(), page: 0, seen: new Set(), carried: [], pages: 0, changed: 0 };
    pending = pass;
    for (;;) {
      signal?.throwIfAborted();
      if (pass.page >= maxPages) {
        pending = null;
        throw new Error(`The lead sync read ${maxPages} pages and the upstream still reports more`);
      }
      const result = await reader.readPage(since, pass.page, signal);
      pass.page += 1;
      pass.pages += 1;
      // The rows of the page's last lead may go on in the next page: they wait for it.
      const leads = [...pass.carried, ...result.leads];
      const done = !result.hasMore || result.leads.length === 0;
      const lastId = leads.at(-1)?.kommoId;
      let cut = leads.length;
      while (!done && cut > 0 && leads[cut - 1]?.kommoId === lastId) cut -= 1;
      pass.carried = leads.slice(cut);
      pass.changed += store.upsert(joinSeen(leads.slice(0, cut), pass.seen));
      options.onPage?.({ kind, pages: pass.pages, leads: pass.seen.size, startedAt: pass.started });
      if (done) {
        pending = null;
        return pass;
      }
    }
  }

  /**
   * One pass sees each lead once, but its rows may come in pieces: across a page boundary, or again on a
   * later page when the upstream's rows shifted. A lead already seen in this pass is merged with what the
   * store got from the pass so far, not replaced by the piece.
   */
  function joinSeen(leads: readonly Lead[], seen: Set<string>): Lead[] {
    const batch = new Map<string, Lead>();
    for (const lead of leads) {
      const known = batch.get(lead.kommoId) ?? (seen.has(lead.kommoId) ? store.get([lead.kommoId])[0] : null);
      batch.set(lead.kommoId, known ? mergeLeadFragments(known, lead) : lead);
      seen.add(lead.kommoId);
    }
    return [...batch.values()];
  }

  async function full(signal: AbortSignal | undefined): Promise<SyncReport> {
    const first = await readAll('full', null, signal);
    const { started } = first;
    const seen = new Set(first.seen);
    let { pages, changed } = first;
    let deleted = 0;
    if (reader.readDeleted) {
      const handled = new Set<string>();
      // Deletions leave this upstream's list: one made during the read, of a lead already read, shifted the
      // pages after it, and the lead at the next page boundary was skipped. Read again while that happened.
      for (let again = 0; ; again += 1) {
        const during = await reader.readDeleted(new Date(started), signal);
        deleted += store.markDeleted(during);
        if (again === MAX_FULL_REREADS || !during.some((id) => seen.has(id) && !handled.has(id))) break;
        for (const id of during) handled.add(id);
        const next = await readAll('full', null, signal);
        for (const id of next.seen) seen.add(id);
        pages += next.pages;
        changed += next.changed;
      }
    }
    // Where deletions are listed apart (Kommo), a lead held as deleted is absent from every full read: no sign it vanished.
    const listedApart = reader.readDeleted !== undefined;
    const absent = store.ids().filter((id) => !seen.has(id) && !(listedApart && store.get([id])[0]?.isDeleted));
    const removed = store.remove(absent.filter((id) => suspects.has(id)));
    suspects = new Set(absent.filter((id) => !suspects.has(id)));
    watermark = new Date(started - overlapMs);
    return { kind: 'full', since: null, pages, leadsRead: seen.size, changed, deleted, removed, watermark };
  }

  async function incremental(since: Date, signal: AbortSignal | undefined): Promise<SyncReport> {
    const { seen, pages, changed, started } = await readAll('incremental', since, signal);
    for (const id of seen) suspects.delete(id);
    const deleted = reader.readDeleted ? store.markDeleted(await reader.readDeleted(since, signal)) : 0;
    watermark = new Date(started - overlapMs);
    return { kind: 'incremental', since, pages, leadsRead: seen.size, changed, deleted, removed: 0, watermark };
  }

  // One pass at a time per tenant: a caller asking meanwhile shares the pass that runs.
  function single(run: () => Promise<SyncReport>): Promise<SyncReport> {
    running ??= run().finally(() => {
      running = null;
    });
    return running;
  }

  return {
    get watermark() {
      return watermark;
    },
    fullSync: (signal) => single(() => full(signal)),
    abandon: () => {
      pending = null;
    },
    refresh: (signal) => single(() => (watermark === null ? full(signal) : incremental(watermark, signal))),
  };
}
