/**
 * The lead index of one tenant: every lead in memory, answering any filter, order and page with no
 * upstream call. Sort keys live in typed columns (one slot per lead); the rest of a lead is kept with
 * its repeated strings and objects interned, and materialized into a `Lead` only when read.
 *
 * Cursors are keysets over (sort key, kommoId) and pin the version their walk started at: a lead
 * whose sort key changes during a walk keeps, for that walk, the key it had when the walk began (or,
 * inserted later, the key it first had), so no walk meets a lead twice, and every lead present for
 * the whole walk once. The old keys are kept for `cursorLifetimeMs`; an older walk's cursor is refused.
 */
import { createHash, randomBytes } from 'node:crypto';
import { BadUserInputError, DomainError } from '../errors.js';
import { type ConnectionArgs, checkPageArgs, type PageSettings } from '../pagination.js';
import {
  type CustomFieldValue,
  type IdName,
  type Lead,
  type LeadQuery,
  matchesQuery,
  mergeLeadFragments,
  type Tag,
} from '../sources/adapter.js';

export type LeadOrderField = 'ID' | 'CREATED_AT' | 'UPDATED_AT' | 'CLOSED_AT' | 'PRICE' | 'NAME';
export type OrderDirection = 'ASC' | 'DESC';

export interface LeadOrder {
  readonly field: LeadOrderField;
  /** @default 'ASC' */
  readonly direction?: OrderDirection;
}

/** Inclusive bounds; a missing bound is open. */
export interface NumberRange {
  readonly min?: number;
  readonly max?: number;
}

/** Inclusive bounds; a missing bound is open. A lead without the time matches no bound. */
export interface TimeRange {
  readonly from?: Date;
  readonly to?: Date;
}

/** Every `LeadQuery` filter with its lead-level meaning, and the filters only an index can apply. */
export interface IndexFilter extends LeadQuery {
  /** The lead's name contains it, case-insensitively. */
  readonly search?: string;
  readonly price?: NumberRange;
  readonly closedAt?: TimeRange;
}

export interface IndexQuery {
  readonly filter?: IndexFilter;
  /** Without it, the upstream's order as first synced, leads that appeared later after them. */
  readonly orderBy?: LeadOrder | null;
  /** @default false */
  readonly includeDeleted?: boolean;
}

export interface IndexEdge {
  readonly cursor: string;
  readonly node: Lead;
}

export interface IndexPage {
  readonly edges: readonly IndexEdge[];
  readonly pageInfo: {
    readonly hasNextPage: boolean;
    readonly hasPreviousPage: boolean;
    readonly startCursor: string | null;
    readonly endCursor: string | null;
  };
  /** The exact number of leads the filter selects (all pages). */
  readonly totalCount: number;
  /** The store version the page was read at. */
  readonly version: number;
}

export interface LeadStoreOptions {
  /**
   * Leads the store holds at most (deleted ones included); an upsert past it fails with `INDEX_FULL`
   * and changes nothing. `LEADGRAPH_INDEX_MAX_LEADS` when wired.
   * @default 500_000
   */
  readonly maxLeads?: number;
  /**
   * How long a walk's cursors stay valid after the sort keys under them started to change.
   * @default 3_600_000 (one hour)
   */
  readonly cursorLifetimeMs?: number;
  /** @default Date.now */
  readonly now?: () => number;
}

export const DEFAULT_INDEX_MAX_LEADS = 500_000;
const DEFAULT_CURSOR_LIFETIME_MS = 3_600_000;
/** Filtered, ordered views kept for the pages that follow (a walk asks for the same view again). */
const VIEW_CACHE_SIZE = 8;
const CURSOR_PREFIX = 'li1';
const CURSOR_MAX_LENGTH = 2048;

/** The store holds `maxLeads` leads and was asked to take more. */
export class IndexFullError extends DomainError {
  constructor(maxLeads: number, wanted: number) {
    super('INDEX_FULL', `The lead index holds at most ${maxLeads} leads (LEADGRAPH_INDEX_MAX_LEADS); this tenant needs ${wanted}`, {
      maxLeads,
    });
    this.name = 'IndexFullError';
  }
}

export interface LeadStore {
  /** Leads held, deleted ones included. */
  readonly size: number;
  /** Goes up by one on every call that changed something. */
  readonly version: number;
  /**
   * Adds or replaces leads; several fragments of one lead in the batch (tag-exploded rows) are merged
   * first. A lead already held keeps its place in the insertion order. Returns how many changed.
   */
  upsert(leads: readonly Lead[]): number;
  /** Marks held leads deleted (they stay, resolving with `isDeleted: true`). Returns how many changed. */
  markDeleted(kommoIds: readonly string[]): number;
  /** Forgets leads entirely (they resolve as unknown). Returns how many were held. */
  remove(kommoIds: readonly string[]): number;
  /** The leads in key order, null for an id the store does not hold. */
  get(kommoIds: readonly string[]): (Lead | null)[];
  has(kommoId: string): boolean;
  /** Every id held, in insertion order. */
  ids(): string[];
  /** Told of every lead created, changed or deleted from now on (null: nobody listens; changes cost nothing extra). */
  onChange(listener: ((change: LeadChangeEvent) => void) | null): void;
  /** The number of leads the query's filter selects and the sum of their prices, in one pass over two columns. */
  totals(query: IndexQuery): { count: number; totalPrice: number };
  /**
   * Visits every lead the query's filter selects (deleted ones only with `includeDeleted`), in no
   * particular order, without materializing them: `row` is one object, refilled for each lead.
   */
  scan(query: IndexQuery, visit: (row: ScanRow) => void): void;
  /** One page of a connection, with its exact total. */
  query(query: IndexQuery, args: ConnectionArgs, settings: PageSettings): IndexPage;
}

/** A lead the store saw created, changed or deleted (a soft delete, a deletion listed, or a lead forgotten). */
export interface LeadChangeEvent {
  readonly kind: 'CREATED' | 'UPDATED' | 'DELETED';
  /** As it is now (DELETED: the last known lead, marked deleted). */
  readonly lead: Lead;
  /** As it was; null for CREATED. */
  readonly previous: Lead | null;
}

/** Whether one lead matches a query's filter, with the same meaning the store's own queries give it. */
export function leadMatches(lead: Lead, query: IndexQuery): boolean {
  if (!query.includeDeleted && lead.isDeleted) return false;
  const filter = query.filter ?? {};
  if (!matchesQuery(lead, filter)) return false;
  const inside = (value: number, low: number | undefined, high: number | undefined) =>
    (low === undefined || value >= low) && (high === undefined || value <= high);
  if (filter.price && !(Number.isFinite(lead.price) && inside(lead.price, filter.price.min, filter.price.max))) return false;
  if (filter.closedAt && (filter.closedAt.from || filter.closedAt.to)) {
    if (!lead.closedAt || !inside(lead.closedAt.getTime(), filter.closedAt.from?.getTime(), filter.closedAt.to?.getTime())) return false;
  }
  if (filter.search && !lead.name.toLowerCase().includes(filter.search.toLowerCase())) return false;
  return true;
}

/** What an aggregate reads of a lead (see `LeadStore.scan`). Times in ms since the epoch, NaN for none. */
export interface ScanRow {
  price: number;
  pipelineId: string | null;
  statusId: string | null;
  responsibleUserId: string | null;
  tags: readonly Tag[];
  createdAt: number;
  closedAt: number;
}

/** What a lead keeps besides its column values (strings and small objects interned). */
type Rest = Pick<
  Lead,
  | 'name'
  | 'pipelineId'
  | 'statusId'
  | 'responsibleUserId'
  | 'createdById'
  | 'updatedById'
  | 'groupId'
  | 'lossReason'
  | 'tags'
  | 'contactIds'
  | 'customFields'
  | 'score'
  | 'laborCostSeconds'
  | 'source'
>;

/** The sort keys of one lead that can change (seq and id cannot). NaN stands for null. */
interface Keys {
  readonly createdAt: number;
  readonly updatedAt: number;
  readonly closedAt: number;
  readonly price: number;
  readonly name: string;
}

interface KeyChange {
  /** The version that replaced `old`. */
  readonly version: number;
  readonly at: number;
  readonly slot: number;
  /** The lead's seq, so that a reused slot is not mistaken for it. */
  readonly seq: number;
  readonly old: Keys;
}

type Field = LeadOrderField | 'SYNC';
type KeyValue = number | string;

interface CursorData {
  /** The store instance the walk's versions belong to (another replica's, or one before a restart, mean nothing here). */
  readonly instance: string;
  readonly walk: number;
  readonly key: KeyValue;
  readonly id: string;
}

interface View {
  /** Slots in the requested direction. */
  readonly slots: Int32Array;
  readonly keyOf: (slot: number) => KeyValue;
}

const EMPTY: readonly never[] = Object.freeze([]);
const idNumber = (id: string | null): number => (id === null ? Number.NaN : Number(id));
const time = (date: Date | null): number => (date === null ? Number.NaN : date.getTime());
const date = (value: number): Date | null => (Number.isNaN(value) ? null : new Date(value));

export function createLeadStore(options: LeadStoreOptions = {}): LeadStore {
  const maxLeads = options.maxLeads ?? DEFAULT_INDEX_MAX_LEADS;
  const lifetime = options.cursorLifetimeMs ?? DEFAULT_CURSOR_LIFETIME_MS;
  const now = options.now ?? Date.now;
  const instance = randomBytes(6).toString('base64url');
  let listener: ((change: LeadChangeEvent) => void) | null = null;

  let capacity = 1024;
  let seqCol = new Float64Array(capacity);
  let idCol = new Float64Array(capacity);
  let createdCol = new Float64Array(capacity);
  let updatedCol = new Float64Array(capacity);
  let closedCol = new Float64Array(capacity);
  let closestTaskCol = new Float64Array(capacity);
  let priceCol = new Float64Array(capacity);
  let deletedCol = new Uint8Array(capacity);
  /** 1 for a slot that holds a lead (0: never used, or freed). */
  let liveCol = new Uint8Array(capacity);
  // The ids filters compare, as numbers (NaN for none): Kommo ids are whole numbers.
  let pipelineCol = new Float64Array(capacity);
  let statusCol = new Float64Array(capacity);
  let userCol = new Float64Array(capacity);
  let groupCol = new Float64Array(capacity);
  let lossCol = new Float64Array(capacity);
  /** The lead's tag set: an index into `tagSets` (tags are interned as whole sets, a few hundred per tenant). */
  let tagSetCol = new Int32Array(capacity);
  const tagSets: (readonly Tag[])[] = [EMPTY];
  const tagSetIndex = new Map<string, number>([['', 0]]);
  const kommoIds: (string | undefined)[] = [];
  const names: string[] = [];
  const rests: (Rest | undefined)[] = [];
  const slotOf = new Map<string, number>();
  const free: number[] = [];
  let used = 0;
  let nextSeq = 0;
  let version = 0;

  const changes: KeyChange[] = [];
  /** Walks started before this version lost some of their old keys to the lifetime: their cursors are refused. */
  let oldestWalk = 0;

  /** Each order's sorted slots, as of a version: brought up to date from the slots touched since. */
  const sortedCache = new Map<Field, { version: number; slots: Int32Array }>();
  /** Slots whose sort keys changed, or that were added or removed, by version (for `sorted`). */
  let touches: { version: number; slot: number }[] = [];
  const views = new Map<string, View>();

  const pool = new Map<string, string>();
  const intern = (value: string): string => {
    const known = pool.get(value);
    if (known !== undefined) return known;
    pool.set(value, value);
    return value;
  };
  const internOrNull = (value: string | null): string | null => (value === null ? null : intern(value));
  const objects = new Map<string, IdName | Tag>();
  const internIdName = (value: IdName | null): IdName | null => {
    if (value === null) return null;
    const key = `i\u0000${value.kommoId}\u0000${value.name ?? '\u0001'}`;
    const known = objects.get(key) as IdName | undefined;
    if (known) return known;
    const made = Object.freeze({ kommoId: intern(value.kommoId), name: internOrNull(value.name) });
    objects.set(key, made);
    return made;
  };
  const internTag = (tag: Tag): Tag => {
    const key = `t\u0000${tag.kommoId}\u0000${tag.name}\u0000${tag.color ?? '\u0001'}`;
    const known = objects.get(key) as Tag | undefined;
    if (known) return known;
    const made = Object.freeze({ kommoId: intern(tag.kommoId), name: intern(tag.name), color: internOrNull(tag.color) });
    objects.set(key, made);
    return made;
  };
  /** A lead's tags as one shared, frozen list, and its number. */
  const internTagSet = (tags: readonly Tag[]): number => {
    if (tags.length === 0) return 0;
    const interned = tags.map(internTag);
    const key = interned.map((tag) => `${tag.kommoId}\u0000${tag.name}\u0000${tag.color ?? '\u0001'}`).join('\u0002');
    let index = tagSetIndex.get(key);
    if (index === undefined) {
      index = tagSets.length;
      tagSets.push(Object.freeze(interned));
      tagSetIndex.set(key, index);
    }
    return index;
  };
  const internFields = (fields: readonly CustomFieldValue[]): readonly CustomFieldValue[] =>
    fields.length === 0
      ? EMPTY
      : fields.map((field) => ({
          fieldId: intern(field.fieldId),
          name: internOrNull(field.name),
          code: internOrNull(field.code),
          type: internOrNull(field.type),
          values:
            field.values.length === 0
              ? EMPTY
              : field.values.map((entry) => ({
                  // An enum's value repeats across leads; free text rarely does, and interning it would only cost.
                  value: entry.enumId === null ? entry.value : internOrNull(entry.value),
                  enumId: internOrNull(entry.enumId),
                  enumCode: internOrNull(entry.enumCode),
                })),
        }));

  function grow(): void {
    capacity *= 2;
    const widen = <T extends Float64Array | Uint8Array | Int32Array>(old: T, make: (n: number) => T): T => {
      const next = make(capacity);
      next.set(old);
      return next;
    };
    const f64 = (n: number) => new Float64Array(n);
    seqCol = widen(seqCol, f64);
    idCol = widen(idCol, f64);
    createdCol = widen(createdCol, f64);
    updatedCol = widen(updatedCol, f64);
    closedCol = widen(closedCol, f64);
    closestTaskCol = widen(closestTaskCol, f64);
    priceCol = widen(priceCol, f64);
    deletedCol = widen(deletedCol, (n) => new Uint8Array(n));
    liveCol = widen(liveCol, (n) => new Uint8Array(n));
    pipelineCol = widen(pipelineCol, f64);
    statusCol = widen(statusCol, f64);
    userCol = widen(userCol, f64);
    groupCol = widen(groupCol, f64);
    lossCol = widen(lossCol, f64);
    tagSetCol = widen(tagSetCol, (n) => new Int32Array(n));
  }

  const keysOf = (slot: number): Keys => ({
    createdAt: createdCol[slot] as number,
    updatedAt: updatedCol[slot] as number,
    closedAt: closedCol[slot] as number,
    price: priceCol[slot] as number,
    name: names[slot] as string,
  });

  function materialize(slot: number): Lead {
    const rest = rests[slot] as Rest;
    return {
      kommoId: kommoIds[slot] as string,
      ...rest,
      price: priceCol[slot] as number,
      createdAt: new Date(createdCol[slot] as number),
      updatedAt: new Date(updatedCol[slot] as number),
      closedAt: date(closedCol[slot] as number),
      closestTaskAt: date(closestTaskCol[slot] as number),
      isDeleted: deletedCol[slot] === 1,
    };
  }

  function write(slot: number, lead: Lead): void {
    idCol[slot] = Number(lead.kommoId);
    createdCol[slot] = time(lead.createdAt);
    updatedCol[slot] = time(lead.updatedAt);
    closedCol[slot] = time(lead.closedAt);
    closestTaskCol[slot] = time(lead.closestTaskAt);
    priceCol[slot] = Number.isFinite(lead.price) ? lead.price : Number.NaN;
    deletedCol[slot] = lead.isDeleted ? 1 : 0;
    liveCol[slot] = 1;
    pipelineCol[slot] = idNumber(lead.pipelineId);
    statusCol[slot] = idNumber(lead.statusId);
    userCol[slot] = idNumber(lead.responsibleUserId);
    groupCol[slot] = idNumber(lead.groupId);
    lossCol[slot] = idNumber(lead.lossReason?.kommoId ?? null);
    const tagSet = internTagSet(lead.tags);
    tagSetCol[slot] = tagSet;
    const lower = lead.name.toLowerCase();
    names[slot] = lower === lead.name ? lead.name : lower;
    rests[slot] = {
      name: lead.name,
      pipelineId: internOrNull(lead.pipelineId),
      statusId: internOrNull(lead.statusId),
      responsibleUserId: internOrNull(lead.responsibleUserId),
      createdById: internOrNull(lead.createdById),
      updatedById: internOrNull(lead.updatedById),
      groupId: internOrNull(lead.groupId),
      lossReason: internIdName(lead.lossReason),
      tags: tagSets[tagSet] as readonly Tag[],
      contactIds: lead.contactIds.length === 0 ? EMPTY : lead.contactIds,
      customFields: internFields(lead.customFields),
      score: lead.score,
      laborCostSeconds: lead.laborCostSeconds,
      source: internIdName(lead.source),
    };
  }

  function bump(): void {
    version += 1;
    views.clear();
    prune();
    // The touches only serve orders sorted at an older version: past the table's size, sorting afresh is as cheap.
    if (touches.length > slotOf.size + 1024) {
      touches = [];
      sortedCache.clear();
    }
  }

  function prune(): void {
    const horizon = now() - lifetime;
    let drop = 0;
    while (drop < changes.length && (changes[drop] as KeyChange).at < horizon) {
      oldestWalk = Math.max(oldestWalk, (changes[drop] as KeyChange).version);
      drop += 1;
    }
    if (drop > 0) changes.splice(0, drop);
  }

  function upsert(leads: readonly Lead[]): number {
    const merged = new Map<string, Lead>();
    for (const lead of leads) {
      const known = merged.get(lead.kommoId);
      merged.set(lead.kommoId, known ? mergeLeadFragments(known, lead) : lead);
    }
    let added = 0;
    for (const id of merged.keys()) if (!slotOf.has(id)) added += 1;
    if (slotOf.size + added > maxLeads) throw new IndexFullError(maxLeads, slotOf.size + added);
    let changed = 0;
    const at = now();
    for (const lead of merged.values()) {
      const existing = slotOf.get(lead.kommoId);
      if (existing !== undefined) {
        const before = materialize(existing);
        if (sameLead(before, lead)) continue;
        const old = keysOf(existing);
        write(existing, lead);
        if (listener)
          listener({ kind: !before.isDeleted && lead.isDeleted ? 'DELETED' : 'UPDATED', lead: materialize(existing), previous: before });
        if (!sameKeys(old, keysOf(existing))) {
          touch(existing);
          changes.push({ version: version + 1, at, slot: existing, seq: seqCol[existing] as number, old });
        }
      } else {
        let slot = free.pop();
        if (slot === undefined) {
          if (used === capacity) grow();
          slot = used;
          used += 1;
        }
        seqCol[slot] = nextSeq;
        nextSeq += 1;
        kommoIds[slot] = lead.kommoId;
        slotOf.set(lead.kommoId, slot);
        write(slot, lead);
        touch(slot);
        if (listener) listener({ kind: 'CREATED', lead: materialize(slot), previous: null });
      }
      changed += 1;
    }
    if (changed > 0) bump();
    return changed;
  }

  function markDeleted(ids: readonly string[]): number {
    let changed = 0;
    for (const id of ids) {
      const slot = slotOf.get(id);
      if (slot === undefined || deletedCol[slot] === 1) continue;
      const before = listener ? materialize(slot) : null;
      deletedCol[slot] = 1;
      if (listener && before) listener({ kind: 'DELETED', lead: materialize(slot), previous: before });
      changed += 1;
    }
    if (changed > 0) bump();
    return changed;
  }

  function remove(ids: readonly string[]): number {
    let removed = 0;
    for (const id of ids) {
      const slot = slotOf.get(id);
      if (slot === undefined) continue;
      if (listener) {
        const last = materialize(slot);
        listener({ kind: 'DELETED', lead: { ...last, isDeleted: true }, previous: last });
      }
      slotOf.delete(id);
      kommoIds[slot] = undefined;
      rests[slot] = undefined;
      names[slot] = '';
      liveCol[slot] = 0;
      free.push(slot);
      touch(slot);
      removed += 1;
    }
    if (removed > 0) bump();
    return removed;
  }

  /** Live slots sorted ascending by (key, kommoId) on the current keys, built once per version and field. */
  function sorted(field: Field): Int32Array {
    const cached = sortedCache.get(field);
    if (cached?.version === version) return cached.slots;
    const compare = comparator(currentKey(field));
    const touched = new Set<number>();
    for (let i = touches.length - 1; cached && i >= 0 && (touches[i] as { version: number }).version > cached.version; i -= 1) {
      touched.add((touches[i] as { slot: number }).slot);
    }
    let slots: Int32Array;
    if (cached && touched.size * 8 < slotOf.size) {
      // Few leads moved: the old order without them, merged with them sorted.
      const moved = [...touched].filter((slot) => kommoIds[slot] !== undefined).sort(compare);
      slots = new Int32Array(slotOf.size);
      let n = 0;
      let m = 0;
      for (const slot of cached.slots) {
        if (touched.has(slot)) continue;
        while (m < moved.length && compare(moved[m] as number, slot) < 0) slots[n++] = moved[m++] as number;
        slots[n++] = slot;
      }
      while (m < moved.length) slots[n++] = moved[m++] as number;
    } else {
      slots = new Int32Array(slotOf.size);
      let n = 0;
      for (let slot = 0; slot < used; slot += 1) if (kommoIds[slot] !== undefined) slots[n++] = slot;
      slots.sort(compare);
    }
    sortedCache.set(field, { version, slots });
    // Touches every kept order has taken in are not needed any more.
    const oldest = Math.min(...[...sortedCache.values()].map((entry) => entry.version));
    let drop = 0;
    while (drop < touches.length && (touches[drop] as { version: number }).version <= oldest) drop += 1;
    if (drop > 0) touches = touches.slice(drop);
    return slots;
  }

  function touch(slot: number): void {
    // With no order kept, the next one is sorted afresh: nothing to remember.
    if (sortedCache.size > 0) touches.push({ version: version + 1, slot });
  }

  function currentKey(field: Field): (slot: number) => KeyValue {
    switch (field) {
      case 'SYNC':
        return (slot) => seqCol[slot] as number;
      case 'ID':
        return (slot) => idCol[slot] as number;
      case 'CREATED_AT':
        return (slot) => createdCol[slot] as number;
      case 'UPDATED_AT':
        return (slot) => updatedCol[slot] as number;
      case 'CLOSED_AT':
        return (slot) => closedCol[slot] as number;
      case 'PRICE':
        return (slot) => priceCol[slot] as number;
      case 'NAME':
        return (slot) => names[slot] as string;
    }
  }

  function comparator(keyOf: (slot: number) => KeyValue): (a: number, b: number) => number {
    return (a, b) =>
      compareEntries(keyOf(a), idCol[a] as number, kommoIds[a] as string, keyOf(b), idCol[b] as number, kommoIds[b] as string);
  }

  /** The field's key of each changed lead as of version `walk`, for the leads whose key changed since. */
  function keysAt(walk: number, field: Field): Map<number, KeyValue> {
    const overlay = new Map<number, KeyValue>();
    if (field === 'SYNC' || field === 'ID') return overlay;
    for (let i = changes.length - 1; i >= 0; i -= 1) {
      const change = changes[i] as KeyChange;
      if (change.version <= walk) break;
      if (kommoIds[change.slot] === undefined || seqCol[change.slot] !== change.seq) continue;
      overlay.set(change.slot, keyField(change.old, field));
    }
    const current = currentKey(field);
    for (const [slot, key] of overlay)
      if (key === current(slot) || (Number.isNaN(key) && Number.isNaN(current(slot)))) overlay.delete(slot);
    return overlay;
  }

  function view(query: IndexQuery, field: Field, descending: boolean, walk: number, print: string): View {
    const cacheKey = `${walk}:${print}`;
    const cached = views.get(cacheKey);
    if (cached) {
      views.delete(cacheKey);
      views.set(cacheKey, cached);
      return cached;
    }
    const selected = mask(query);
    const keep = (slot: number): boolean => selected[slot] === 1;
    const overlay = keysAt(walk, field);
    const current = currentKey(field);
    const keyOf = overlay.size === 0 ? current : (slot: number) => overlay.get(slot) ?? current(slot);
    const base = sorted(field);
    let slots: Int32Array;
    if (overlay.size === 0) {
      let count = 0;
      for (let slot = 0; slot < selected.length; slot += 1) count += selected[slot] as number;
      slots = new Int32Array(count);
      let n = 0;
      for (let i = 0; i < base.length && n < count; i += 1) {
        const slot = base[i] as number;
        if (selected[slot] === 1) slots[n++] = slot;
      }
    } else {
      const picked: number[] = [];
      // The leads whose key moved since the walk began go back to where they were then: merge them in.
      const moved = [...overlay.keys()].filter(keep).sort(comparator(keyOf));
      const compare = comparator(keyOf);
      let m = 0;
      for (const slot of base) {
        if (overlay.has(slot) || !keep(slot)) continue;
        while (m < moved.length && compare(moved[m] as number, slot) < 0) picked.push(moved[m++] as number);
        picked.push(slot);
      }
      while (m < moved.length) picked.push(moved[m++] as number);
      slots = Int32Array.from(picked);
    }
    if (descending) slots.reverse();
    const made: View = { slots, keyOf };
    views.set(cacheKey, made);
    if (views.size > VIEW_CACHE_SIZE) views.delete(views.keys().next().value as string);
    return made;
  }

  /**
   * Which slots the query's filter selects: 1 in a mask over every slot. Each condition is one tight loop
   * over a typed column (a tag condition over the distinct tag sets first), so a new filter over 100,000
   * leads costs a millisecond or two, not a walk through every lead's objects.
   */
  /** Masks of the last few filters at this version: a dashboard's totals and groups filter alike. */
  const masks = new Map<string, Uint8Array>();
  let masksVersion = -1;
  function cachedMask(query: IndexQuery): Uint8Array {
    if (masksVersion !== version) {
      masks.clear();
      masksVersion = version;
    }
    const key = `${fingerprint({ filter: query.filter ?? {} })}:${query.includeDeleted ? 1 : 0}`;
    let found = masks.get(key);
    if (!found) {
      found = mask(query);
      masks.set(key, found);
      if (masks.size > 4) masks.delete(masks.keys().next().value as string);
    }
    return found;
  }

  function mask(query: IndexQuery): Uint8Array {
    const filter = query.filter ?? {};
    const out = new Uint8Array(used);
    const live = liveCol;
    const deleted = deletedCol;
    if (query.includeDeleted) for (let slot = 0; slot < used; slot += 1) out[slot] = live[slot] as number;
    else for (let slot = 0; slot < used; slot += 1) out[slot] = (live[slot] as number) & ((deleted[slot] as number) ^ 1);
    const equals = (column: Float64Array, value: string | undefined): void => {
      if (value === undefined) return;
      const wanted = Number(value);
      // An id that is not a number matches nothing held (ids held are numbers, or NaN for none).
      for (let slot = 0; slot < used; slot += 1) if (column[slot] !== wanted) out[slot] = 0;
    };
    equals(pipelineCol, filter.pipelineId);
    equals(statusCol, filter.statusId);
    equals(userCol, filter.responsibleUserId);
    equals(groupCol, filter.groupId);
    equals(lossCol, filter.lossReasonId);
    const { tagId, tagName } = filter;
    if (tagId !== undefined || tagName !== undefined) {
      // The distinct tag sets are few: decide each once, then test leads by their set's number.
      const wanted = tagName?.toLowerCase();
      const fits = new Uint8Array(tagSets.length);
      tagSets.forEach((tags, index) => {
        const byId = tagId === undefined || tags.some((tag) => tag.kommoId === tagId);
        const byName = wanted === undefined || tags.some((tag) => tag.name.toLowerCase() === wanted);
        fits[index] = byId && byName ? 1 : 0;
      });
      for (let slot = 0; slot < used; slot += 1) if (fits[tagSetCol[slot] as number] === 0) out[slot] = 0;
    }
    const range = (column: Float64Array, from: number | undefined, to: number | undefined): void => {
      if (from === undefined && to === undefined) return;
      const low = from ?? Number.NEGATIVE_INFINITY;
      const high = to ?? Number.POSITIVE_INFINITY;
      // NaN (no value) fails both comparisons: a lead without the value matches no bound.
      for (let slot = 0; slot < used; slot += 1) {
        const value = column[slot] as number;
        if (!(value >= low && value <= high)) out[slot] = 0;
      }
    };
    range(createdCol, filter.createdFrom?.getTime(), filter.createdTo?.getTime());
    range(updatedCol, filter.updatedFrom?.getTime(), filter.updatedTo?.getTime());
    range(closedCol, filter.closedAt?.from?.getTime(), filter.closedAt?.to?.getTime());
    range(priceCol, filter.price?.min, filter.price?.max);
    if (filter.search !== undefined && filter.search !== '') {
      const wanted = filter.search.toLowerCase();
      for (let slot = 0; slot < used; slot += 1) if (out[slot] === 1 && !(names[slot] as string).includes(wanted)) out[slot] = 0;
    }
    return out;
  }

  function query(query: IndexQuery, args: ConnectionArgs, settings: PageSettings): IndexPage {
    let { first, last } = checkPageArgs(args, settings);
    const field: Field = query.orderBy?.field ?? 'SYNC';
    const descending = query.orderBy?.direction === 'DESC';
    const print = fingerprint(query);
    // A cursor of another store instance (another replica, or this one before a restart) goes on by its
    // key and id over the current keys: a plain keyset, exact for every lead whose key did not change.
    const own = (cursor: CursorData | null): CursorData | null =>
      cursor && cursor.instance !== instance ? { ...cursor, instance, walk: version } : cursor;
    const after = own(args.after ? decodeCursor(args.after, print, field, 'after') : null);
    const before = own(args.before ? decodeCursor(args.before, print, field, 'before') : null);
    if (after && before && after.walk !== before.walk) {
      throw new BadUserInputError('"after" and "before" come from different walks: pass cursors of one walk', 'before');
    }
    const walk = after?.walk ?? before?.walk ?? version;
    if (walk > version || walk < oldestWalk) {
      const argument = after ? 'after' : 'before';
      throw new BadUserInputError(
        `"${argument}" is a cursor of a walk that started too long ago (the index has changed much since): start again without a cursor`,
        argument,
      );
    }
    if (first === null && last === null) {
      if (before && !after) last = settings.defaultPageSize;
      else first = settings.defaultPageSize;
    }

    const { slots, keyOf } = view(query, field, descending, walk, print);
    const sign = descending ? -1 : 1;
    // Position of a cursor in the view: the first slot ordered after it (`strict`: at or after it).
    const bound = (cursor: CursorData, strict: boolean): number => {
      const id = Number(cursor.id);
      let low = 0;
      let high = slots.length;
      while (low < high) {
        const middle = (low + high) >>> 1;
        const slot = slots[middle] as number;
        const order = sign * compareEntries(keyOf(slot), idCol[slot] as number, kommoIds[slot] as string, cursor.key, id, cursor.id);
        if (order < 0 || (order === 0 && !strict)) low = middle + 1;
        else high = middle;
      }
      return low;
    };
    const lower = after ? bound(after, false) : 0;
    const upper = Math.max(lower, before ? bound(before, true) : slots.length);

    let start: number;
    let end: number;
    if (first !== null) {
      start = lower;
      end = Math.min(upper, lower + first);
    } else {
      end = upper;
      start = Math.max(lower, upper - (last as number));
    }
    const edges: IndexEdge[] = [];
    for (let i = start; i < end; i += 1) {
      const slot = slots[i] as number;
      edges.push({
        cursor: encodeCursor({ instance, walk, key: keyOf(slot), id: kommoIds[slot] as string }, print, field),
        node: materialize(slot),
      });
    }
    return {
      edges,
      pageInfo: {
        hasNextPage: end < slots.length,
        hasPreviousPage: start > 0,
        startCursor: edges[0]?.cursor ?? null,
        endCursor: edges.at(-1)?.cursor ?? null,
      },
      totalCount: slots.length,
      version,
    };
  }

  return {
    get size() {
      return slotOf.size;
    },
    get version() {
      return version;
    },
    upsert,
    markDeleted,
    remove,
    get: (ids) =>
      ids.map((id) => {
        const slot = slotOf.get(id);
        return slot === undefined ? null : materialize(slot);
      }),
    has: (id) => slotOf.has(id),
    onChange(next) {
      listener = next;
    },
    totals(query) {
      const selected = cachedMask(query);
      let count = 0;
      let totalPrice = 0;
      for (let slot = 0; slot < selected.length; slot += 1) {
        if (selected[slot] !== 1) continue;
        count += 1;
        const price = priceCol[slot] as number;
        if (!Number.isNaN(price)) totalPrice += price; // no price adds nothing
      }
      return { count, totalPrice };
    },
    scan(query, visit) {
      const selected = cachedMask(query);
      const row: ScanRow = { price: 0, pipelineId: null, statusId: null, responsibleUserId: null, tags: EMPTY, createdAt: 0, closedAt: 0 };
      for (let slot = 0; slot < used; slot += 1) {
        if (selected[slot] !== 1) continue;
        const rest = rests[slot] as Rest;
        row.price = priceCol[slot] as number;
        row.pipelineId = rest.pipelineId;
        row.statusId = rest.statusId;
        row.responsibleUserId = rest.responsibleUserId;
        row.tags = rest.tags;
        row.createdAt = createdCol[slot] as number;
        row.closedAt = closedCol[slot] as number;
        visit(row);
      }
    },
    ids: () => [...sorted('SYNC')].map((slot) => kommoIds[slot] as string),
    query,
  };
}

function keyField(keys: Keys, field: Exclude<Field, 'SYNC' | 'ID'>): KeyValue {
  switch (field) {
    case 'CREATED_AT':
      return keys.createdAt;
    case 'UPDATED_AT':
      return keys.updatedAt;
    case 'CLOSED_AT':
      return keys.closedAt;
    case 'PRICE':
      return keys.price;
    case 'NAME':
      return keys.name;
  }
}

const same = (a: number, b: number): boolean => a === b || (Number.isNaN(a) && Number.isNaN(b));

function sameKeys(a: Keys, b: Keys): boolean {
  return (
    same(a.createdAt, b.createdAt) &&
    same(a.updatedAt, b.updatedAt) &&
    same(a.closedAt, b.closedAt) &&
    same(a.price, b.price) &&
    a.name === b.name
  );
}

/** Whether an upsert would change nothing (re-read rows of an overlap window mostly do not). */
function sameLead(a: Lead, b: Lead): boolean {
  const sameTime = (x: Date | null, y: Date | null) => same(time(x), time(y));
  return (
    a.name === b.name &&
    same(a.price, b.price) &&
    a.pipelineId === b.pipelineId &&
    a.statusId === b.statusId &&
    a.responsibleUserId === b.responsibleUserId &&
    a.createdById === b.createdById &&
    a.updatedById === b.updatedById &&
    a.groupId === b.groupId &&
    a.score === b.score &&
    a.laborCostSeconds === b.laborCostSeconds &&
    a.isDeleted === b.isDeleted &&
    sameTime(a.createdAt, b.createdAt) &&
    sameTime(a.updatedAt, b.updatedAt) &&
    sameTime(a.closedAt, b.closedAt) &&
    sameTime(a.closestTaskAt, b.closestTaskAt) &&
    JSON.stringify([a.lossReason, a.source, a.tags, a.contactIds, a.customFields]) ===
      JSON.stringify([b.lossReason, b.source, b.tags, b.contactIds, b.customFields])
  );
}

/**
 * Ascending order of (key, kommoId): a null key (NaN) after every value, as PostgreSQL does; ties by
 * kommoId numerically (then as text, for an id that is not a number). Descending is its exact reverse.
 */
function compareEntries(ka: KeyValue, ida: number, kommoIdA: string, kb: KeyValue, idb: number, kommoIdB: string): number {
  if (ka !== kb) {
    const nullA = typeof ka === 'number' && Number.isNaN(ka);
    const nullB = typeof kb === 'number' && Number.isNaN(kb);
    if (nullA !== nullB) return nullA ? 1 : -1;
    if (!nullA) return ka < kb ? -1 : 1;
  }
  if (ida !== idb) {
    const nullA = Number.isNaN(ida);
    const nullB = Number.isNaN(idb);
    if (nullA !== nullB) return nullA ? 1 : -1;
    if (!nullA) return ida < idb ? -1 : 1;
  }
  return kommoIdA === kommoIdB ? 0 : kommoIdA < kommoIdB ? -1 : 1;
}

// Cursors and fingerprints ---------------------------------------------------------------------

const fingerprints = new WeakMap<IndexQuery, string>();

/** A hash of everything that decides a connection's leads and their order. */
export function fingerprint(query: IndexQuery): string {
  let print = fingerprints.get(query);
  if (print === undefined) {
    print = createHash('sha256')
      .update(
        JSON.stringify([
          canonical(query.filter ?? {}),
          query.orderBy?.field ?? null,
          query.orderBy?.direction ?? 'ASC',
          !!query.includeDeleted,
        ]),
      )
      .digest('hex')
      .slice(0, 12);
    fingerprints.set(query, print);
  }
  return print;
}

function canonical(value: unknown): unknown {
  if (value instanceof Date) return value.toISOString();
  if (value === null || typeof value !== 'object') return value;
  return Object.keys(value)
    .filter((key) => (value as Record<string, unknown>)[key] !== undefined)
    .sort()
    .map((key) => [key, canonical((value as Record<string, unknown>)[key])]);
}

/** `["li1"` in base64url: every index cursor starts so. */
const INDEX_CURSOR_START = Buffer.from(`["${CURSOR_PREFIX}"`).toString('base64url').slice(0, 8);

/** Whether a cursor looks like one of the index (checked in full when it is used). */
export function isIndexCursor(value: string | null | undefined): boolean {
  return typeof value === 'string' && value.startsWith(INDEX_CURSOR_START);
}

function encodeCursor(cursor: CursorData, print: string, field: Field): string {
  const key = typeof cursor.key === 'number' && Number.isNaN(cursor.key) ? null : cursor.key;
  return Buffer.from(JSON.stringify([CURSOR_PREFIX, print, field, cursor.walk, key, cursor.id, cursor.instance])).toString('base64url');
}

function decodeCursor(value: string, print: string, field: Field, argument: 'after' | 'before'): CursorData {
  let parsed: unknown = null;
  if (value.length <= CURSOR_MAX_LENGTH && /^[A-Za-z0-9_-]+$/.test(value)) {
    try {
      parsed = JSON.parse(Buffer.from(value, 'base64url').toString());
    } catch {
      parsed = null;
    }
  }
  const parts = Array.isArray(parsed) && parsed.length === 7 ? parsed : [];
  const [prefix, cursorPrint, cursorField, walk, key, id, instance] = parts as unknown[];
  const keyFits = field === 'NAME' ? typeof key === 'string' : key === null || typeof key === 'number';
  if (
    prefix !== CURSOR_PREFIX ||
    typeof cursorPrint !== 'string' ||
    typeof walk !== 'number' ||
    !Number.isSafeInteger(walk) ||
    walk < 0 ||
    typeof id !== 'string' ||
    id === '' ||
    typeof instance !== 'string' ||
    (cursorField === field && !keyFits)
  ) {
    throw new BadUserInputError(`"${argument}" is not a cursor of this API: pass a cursor from a previous page unchanged`, argument);
  }
  if (cursorPrint !== print || cursorField !== field) {
    throw new BadUserInputError(
      `"${argument}" is a cursor of a different filter or order: cursors only work with the filter and order of the page that returned them`,
      argument,
    );
  }
  return { instance, walk, key: key === null ? Number.NaN : (key as KeyValue), id };
}
