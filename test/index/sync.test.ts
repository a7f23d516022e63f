import { describe, expect, it } from 'vitest';
import { createLeadStore } from '../../src/index/store.js';
import { createLeadSync, type LeadReader } from '../../src/index/sync.js';
import type { Lead } from '../../src/sources/adapter.js';
import { makeLead, TAGS } from './leads.js';

const HOUR = 3_600_000;
const T0 = Date.UTC(2025, 5, 1, 12);

/**
 * An upstream whose table moves: rows (one per tag, adjacent, as the V4 warehouse explodes them) in a
 * list that can change between two page reads; `updated_at` filter; deletions listed apart (Kommo-like).
 */
class MovingUpstream {
  rows: Lead[] = [];
  deleted: { id: string; at: number }[] = [];
  reads: { since: Date | null; page: number }[] = [];
  /** Runs before each page is read (after the first). */
  between: ((page: number) => void) | null = null;

  constructor(private readonly pageSize: number) {}

  /** Puts a lead at the head (or the tail), one row per tag. */
  insert(lead: Lead, at: 'head' | 'tail' = 'tail'): void {
    const rows = lead.tags.length === 0 ? [lead] : lead.tags.map((tag) => ({ ...lead, tags: [tag] }));
    if (at === 'head') this.rows.unshift(...rows);
    else this.rows.push(...rows);
  }

  /** Replaces a lead's rows where they are. */
  update(id: string, change: Partial<Lead>): void {
    const index = this.rows.findIndex((row) => row.kommoId === id);
    const old = this.rows.filter((row) => row.kommoId === id);
    const base = old[0] as Lead;
    const lead = { ...base, tags: old.flatMap((row) => row.tags), ...change };
    const rows = lead.tags.length === 0 ? [lead] : lead.tags.map((tag) => ({ ...lead, tags: [tag] }));
    this.rows = this.rows.filter((row) => row.kommoId !== id);
    this.rows.splice(index, 0, ...rows);
  }

  /** Takes a lead out of the list (Kommo deletion, or a warehouse re-sync dropping it). */
  drop(id: string, listedAt: number | null): void {
    this.rows = this.rows.filter((row) => row.kommoId !== id);
    if (listedAt !== null) this.deleted.push({ id, at: listedAt });
  }

  reader(withDeletions: boolean): LeadReader {
    const reader: LeadReader = {
      readPage: async (since, page) => {
        if (page > 0) this.between?.(page);
        this.reads.push({ since, page });
        const rows = this.rows.filter((row) => since === null || row.updatedAt.getTime() >= since.getTime());
        const slice = rows.slice(page * this.pageSize, (page + 1) * this.pageSize);
        return { leads: slice, hasMore: (page + 1) * this.pageSize < rows.length };
      },
    };
    if (withDeletions) {
      reader.readDeleted = async (since) => this.deleted.filter((entry) => entry.at >= since.getTime()).map((entry) => entry.id);
    }
    return reader;
  }
}

function setUp(options: { pageSize?: number; overlapMs?: number; deletions?: boolean; leads?: number } = {}) {
  const upstream = new MovingUpstream(options.pageSize ?? 7);
  for (let id = 1; id <= (options.leads ?? 40); id += 1) {
    upstream.insert(makeLead(id, { updatedAt: new Date(T0 - 48 * HOUR), tags: id % 3 === 0 ? [...TAGS.slice(0, 3)] : [] }));
  }
  const clock = { now: T0 };
  const store = createLeadStore();
  const sync = createLeadSync({
    store,
    reader: upstream.reader(options.deletions ?? false),
    overlapMs: options.overlapMs ?? 6 * HOUR,
    clock: () => clock.now,
  });
  return { upstream, clock, store, sync };
}

describe('the lead sync', () => {
  it('reads the whole table once, a lead once with all its rows, also across a page boundary', async () => {
    const { upstream, store, sync } = setUp({ pageSize: 7 });
    const report = await sync.fullSync();
    expect(store.size).toBe(40);
    expect(report).toMatchObject({ kind: 'full', leadsRead: 40, changed: 40, removed: 0 });
    expect(report.pages).toBe(Math.ceil(upstream.rows.length / 7));
    // Lead 3 has three rows: pages of 7 rows split some of these leads.
    for (const lead of store.get(['3', '6', '9', '12', '15', '18'])) expect(lead?.tags).toHaveLength(3);
    expect(store.ids().slice(0, 4)).toEqual(['1', '2', '3', '4']);
  });

  it('takes the watermark from its clock when the pass started, minus the overlap, not from the rows', async () => {
    const { upstream, clock, sync } = setUp({ overlapMs: 6 * HOUR });
    // A row carries an updated_at a day ahead of our clock.
    upstream.update('5', { updatedAt: new Date(T0 + 24 * HOUR) });
    upstream.between = () => {
      clock.now += 1000;
    };
    const report = await sync.fullSync();
    expect(report.watermark).toEqual(new Date(T0 - 6 * HOUR));
    expect(sync.watermark).toEqual(new Date(T0 - 6 * HOUR));
    clock.now = T0 + HOUR;
    const next = await sync.refresh();
    expect(next).toMatchObject({ kind: 'incremental', since: new Date(T0 - 6 * HOUR) });
    expect(next.watermark).toEqual(new Date(T0 + HOUR - 6 * HOUR));
  });

  it('follows inserts at the head, updates and deletions made during the full read, on the next refresh', async () => {
    const { upstream, clock, store, sync } = setUp({ deletions: true, pageSize: 5 });
    upstream.between = (page) => {
      if (page !== 2) return;
      clock.now += 60_000;
      // Rows shift down by one lead at the head: a row already read comes again, the new lead is not read.
      upstream.insert(makeLead(100, { updatedAt: new Date(clock.now) }), 'head');
      upstream.update('2', { name: 'Renamed', updatedAt: new Date(clock.now) });
      upstream.drop('1', clock.now);
    };
    const full = await sync.fullSync();
    upstream.between = null;
    // Lead 1, already read, was deleted meanwhile: the pages after it moved, so the list was read again.
    expect(full.deleted).toBe(1);
    expect(store.get(['1'])[0]?.isDeleted).toBe(true);
    expect(store.get(['3'])[0]?.tags).toHaveLength(3);

    clock.now += 5 * 60_000;
    const report = await sync.refresh();
    expect(report.kind).toBe('incremental');
    expect(store.get(['100', '2']).map((lead) => lead?.name ?? null)).toEqual([expect.any(String), 'Renamed']);
    expect(store.get(['1'])[0]?.isDeleted).toBe(true);
    expect(report.deleted).toBe(0);
    // The new lead comes after the leads of the first sync.
    expect(store.ids().at(-1)).toBe('100');
  });

  it('a deletion during a full read (Kommo: the lead leaves the list) skips no lead that was there all along', async () => {
    const { upstream, clock, store, sync } = setUp({ deletions: true, pageSize: 5 });
    upstream.between = (page) => {
      if (page !== 2) return;
      // A lead of page 0, already read, leaves the list: every row after it moves up by one.
      upstream.drop('1', clock.now);
    };
    const report = await sync.fullSync();
    upstream.between = null;
    const listed = [...new Set(upstream.rows.map((row) => row.kommoId))];
    expect(listed.filter((id) => !store.has(id))).toEqual([]);
    expect(store.get(['1'])[0]?.isDeleted).toBe(true);
    expect(report.deleted).toBe(1);
    // Read again once, then asked once more whether anything was deleted meanwhile.
    expect(upstream.reads.filter((read) => read.since === null && read.page === 0)).toHaveLength(2);
  });

  it('keeps soft-deleted rows (V4: is_deleted with a new updated_at) as deleted leads', async () => {
    const { upstream, clock, store, sync } = setUp();
    await sync.fullSync();
    clock.now += HOUR;
    upstream.update('7', { isDeleted: true, updatedAt: new Date(clock.now) });
    await sync.refresh();
    expect(store.get(['7'])[0]?.isDeleted).toBe(true);
    expect(store.query({}, { first: 1 }, { defaultPageSize: 10, maxPageSize: 10 }).totalCount).toBe(39);
  });

  it('catches a change the warehouse loads late, with an old updated_at, when the overlap covers the delay', async () => {
    for (const [overlap, caught] of [
      [6 * HOUR, true],
      [HOUR, false],
    ] as const) {
      const { upstream, clock, store, sync } = setUp({ overlapMs: overlap });
      await sync.fullSync();
      clock.now = T0 + 4 * HOUR;
      await sync.refresh();
      // Made upstream at T0 + 1 h, loaded into the warehouse at T0 + 5 h, carrying its Kommo time.
      upstream.update('8', { price: 123_456, updatedAt: new Date(T0 + HOUR) });
      clock.now = T0 + 8 * HOUR;
      await sync.refresh();
      expect(store.get(['8'])[0]?.price === 123_456).toBe(caught);
    }
  });

  it('re-reads rows ahead of the clock on each refresh without changing the store', async () => {
    const { upstream, clock, store, sync } = setUp();
    upstream.update('5', { updatedAt: new Date(T0 + 24 * HOUR) });
    await sync.fullSync();
    const version = store.version;
    clock.now += HOUR;
    const report = await sync.refresh();
    expect(report.leadsRead).toBe(1);
    expect(report.changed).toBe(0);
    expect(store.version).toBe(version);
  });

  it('a refresh keeps a tag-exploded lead whole when its rows straddle a page', async () => {
    const { upstream, clock, store, sync } = setUp({ pageSize: 2 });
    await sync.fullSync();
    clock.now += HOUR;
    upstream.update('1', { updatedAt: new Date(clock.now), tags: [...TAGS.slice(0, 3)] });
    upstream.update('2', { updatedAt: new Date(clock.now) });
    await sync.refresh();
    expect(store.get(['1'])[0]?.tags.map((tag) => tag.kommoId)).toEqual(['501', '502', '503']);
  });

  it('forgets a lead absent from two full reads in a row, not from one', async () => {
    const { upstream, store, sync } = setUp();
    await sync.fullSync();
    const lead = upstream.rows.find((row) => row.kommoId === '11') as Lead;
    upstream.drop('11', null);
    expect((await sync.fullSync()).removed).toBe(0);
    upstream.insert(lead);
    await sync.fullSync();
    upstream.drop('11', null);
    await sync.fullSync();
    expect(store.has('11')).toBe(true);
    const report = await sync.fullSync();
    expect(report.removed).toBe(1);
    expect(store.get(['11'])).toEqual([null]);
  });

  it('keeps a lead the upstream lists only among its deletions (Kommo) through later full reads: it resolves deleted, not unknown', async () => {
    const { upstream, clock, store, sync } = setUp({ deletions: true });
    await sync.fullSync();
    upstream.drop('5', clock.now);
    clock.now += 60_000;
    expect((await sync.refresh()).deleted).toBe(1);
    // Deleted leads are never in Kommo's normal list: their absence from full reads is no vanishing.
    for (let i = 0; i < 3; i += 1) expect((await sync.fullSync()).removed).toBe(0);
    expect(store.get(['5'])[0]?.isDeleted).toBe(true);
    // A live lead that vanishes is still forgotten after two full reads.
    upstream.drop('6', null);
    await sync.fullSync();
    expect((await sync.fullSync()).removed).toBe(1);
    expect(store.get(['6'])).toEqual([null]);
  });

  it('runs one pass at a time: a refresh asked for meanwhile shares it', async () => {
    const { upstream, sync } = setUp();
    const [a, b] = await Promise.all([sync.refresh(), sync.refresh()]);
    expect(a).toBe(b);
    expect(upstream.reads.filter((read) => read.page === 0)).toHaveLength(1);
  });

  it('keeps its watermark when a pass fails, and reads from it again', async () => {
    const { upstream, clock, sync } = setUp();
    await sync.fullSync();
    const mark = sync.watermark;
    clock.now += HOUR;
    upstream.between = () => {
      throw new Error('upstream went away');
    };
    // More changed rows than one page holds, so that the refresh reads a second page.
    for (const id of ['1', '2', '4', '5', '7', '8', '10', '11']) upstream.update(id, { updatedAt: new Date(clock.now) });
    await expect(sync.refresh()).rejects.toThrow('upstream went away');
    expect(sync.watermark).toEqual(mark);
  });

  it('stops a pass when the signal aborts', async () => {
    const { sync, upstream } = setUp();
    const controller = new AbortController();
    controller.abort(new Error('sync stopped'));
    await expect(sync.fullSync(controller.signal)).rejects.toThrow('sync stopped');
    expect(upstream.reads).toEqual([]);
    expect(sync.watermark).toBeNull();
  });
});

describe('a pass that fails part-way', () => {
  it('resumes at the page that failed, keeping what it read, and its watermark is from when it began', async () => {
    const { upstream, clock, store, sync } = setUp({ pageSize: 5, leads: 40 });
    let failOn: number | null = 3;
    const reader = upstream.reader(false);
    const failing = createLeadSync({
      store,
      overlapMs: 6 * HOUR,
      clock: () => clock.now,
      reader: {
        readPage: async (since, page, signal) => {
          if (page === failOn) {
            failOn = null;
            throw new Error('upstream hiccup');
          }
          return reader.readPage(since, page, signal);
        },
      },
    });
    await expect(failing.fullSync()).rejects.toThrow('upstream hiccup');
    expect(failing.watermark).toBeNull();
    const pagesBefore = upstream.reads.length;
    expect(pagesBefore).toBe(3); // pages 0, 1, 2 read; page 3 failed
    expect(store.size).toBeGreaterThan(0);
    clock.now += 60_000;
    const report = await failing.fullSync();
    // It went on from page 3: the pages read before are not read again.
    expect(upstream.reads.slice(pagesBefore).map((read) => read.page)[0]).toBe(3);
    expect(report.pages).toBe(upstream.reads.length);
    expect(store.size).toBe(40);
    expect(report.watermark).toEqual(new Date(T0 - 6 * HOUR));
    expect(sync.watermark).toBeNull(); // the other sync of the set-up never ran
  });
});
