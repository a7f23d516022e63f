/**
 * Dashboard numbers from a tenant's lead index: counts and sums of the leads a filter selects, and the
 * same grouped by pipeline, stage, responsible user, tag, or the period (day, week, month, in an IANA
 * time zone) a lead was created or closed in. One pass over the store's columns, no lead materialized.
 */
import { LRUCache } from 'lru-cache';
import { BadUserInputError } from '../errors.js';
import type { Tag } from '../sources/adapter.js';
import type { IndexQuery, LeadStore, ScanRow } from './store.js';

export type LeadGrouping = 'PIPELINE' | 'STATUS' | 'RESPONSIBLE_USER' | 'TAG' | 'CREATED_PERIOD' | 'CLOSED_PERIOD';
export type LeadPeriod = 'DAY' | 'WEEK' | 'MONTH';

export interface LeadTotals {
  readonly count: number;
  readonly totalPrice: number;
}

export interface LeadGroup extends LeadTotals {
  /** The pipeline id, `pipelineId:statusId`, the user id, the tag id, or the period's first day (YYYY-MM-DD); '' for no value. */
  readonly key: string;
  readonly pipelineId: string | null;
  readonly statusId: string | null;
  readonly userId: string | null;
  readonly tag: Tag | null;
  /** The period's first instant in the time zone. */
  readonly periodStart: Date | null;
}

const DAY_MS = 86_400_000;

/** A price counts as its number; a lead without one (NaN in the store) adds 0. */
const priceOf = (row: ScanRow): number => (Number.isNaN(row.price) ? 0 : row.price);

export function leadTotals(store: LeadStore, query: IndexQuery): LeadTotals {
  return store.totals(query);
}

export interface GroupOptions {
  readonly by: LeadGrouping;
  readonly period: LeadPeriod;
  /** A zone `checkTimeZone` accepted. */
  readonly timeZone: string;
  /** At most this many groups (the largest); all when null. */
  readonly first: number | null;
}

export function leadGroups(store: LeadStore, query: IndexQuery, options: GroupOptions): LeadGroup[] {
  const groups = new Map<string, { count: number; totalPrice: number; tag: Tag | null; day: number | null }>();
  const add = (key: string, price: number, tag: Tag | null = null, day: number | null = null): void => {
    const group = groups.get(key);
    if (group) {
      group.count += 1;
      group.totalPrice += price;
    } else {
      groups.set(key, { count: 1, totalPrice: price, tag, day });
    }
  };
  const { by } = options;
  const zone = by === 'CREATED_PERIOD' || by === 'CLOSED_PERIOD' ? zoneClock(options.timeZone) : null;
  // One key string per stage, not one per lead.
  const stageKeys = new Map<string, Map<string, string>>();
  const stageKey = (pipelineId: string, statusId: string): string => {
    let byStatus = stageKeys.get(pipelineId);
    if (!byStatus) {
      byStatus = new Map();
      stageKeys.set(pipelineId, byStatus);
    }
    let key = byStatus.get(statusId);
    if (key === undefined) {
      key = `${pipelineId}:${statusId}`;
      byStatus.set(statusId, key);
    }
    return key;
  };
  const dayKeys = new Map<number, string>();
  const dayKey = (day: number): string => {
    let key = dayKeys.get(day);
    if (key === undefined) {
      key = new Date(day * DAY_MS).toISOString().slice(0, 10);
      dayKeys.set(day, key);
    }
    return key;
  };
  store.scan(query, (row) => {
    const price = priceOf(row);
    switch (by) {
      case 'PIPELINE':
        add(row.pipelineId ?? '', price);
        break;
      case 'STATUS':
        add(row.pipelineId !== null && row.statusId !== null ? stageKey(row.pipelineId, row.statusId) : '', price);
        break;
      case 'RESPONSIBLE_USER':
        add(row.responsibleUserId ?? '', price);
        break;
      case 'TAG':
        // A lead counts once in each of its tags' groups (a tag listed twice on one lead, once).
        if (row.tags.length === 0) add('', price);
        else {
          const seen = row.tags.length > 1 ? new Set<string>() : null;
          for (const tag of row.tags) {
            if (seen?.has(tag.kommoId)) continue;
            seen?.add(tag.kommoId);
            add(tag.kommoId, price, tag);
          }
        }
        break;
      default: {
        const time = by === 'CREATED_PERIOD' ? row.createdAt : row.closedAt;
        if (Number.isNaN(time) || !zone) {
          add('', price);
          break;
        }
        const day = periodStartDay(zone.localDay(time), options.period);
        add(dayKey(day), price, null, day);
      }
    }
  });
  const sorted = [...groups.entries()].sort(([keyA, a], [keyB, b]) => b.count - a.count || (keyA < keyB ? -1 : keyA > keyB ? 1 : 0));
  const chosen = options.first === null ? sorted : sorted.slice(0, options.first);
  return chosen.map(([key, group]) => {
    const [pipelineId, statusId] = by === 'STATUS' && key !== '' ? (key.split(':') as [string, string]) : [null, null];
    return {
      key,
      count: group.count,
      totalPrice: group.totalPrice,
      pipelineId: by === 'PIPELINE' && key !== '' ? key : pipelineId,
      statusId,
      userId: by === 'RESPONSIBLE_USER' && key !== '' ? key : null,
      tag: group.tag,
      periodStart: group.day === null || !zone ? null : new Date(zone.midnight(group.day)),
    };
  });
}

/** The first day (days since the epoch) of the period holding `day`: weeks start on Monday (ISO 8601). */
function periodStartDay(day: number, period: LeadPeriod): number {
  if (period === 'DAY') return day;
  if (period === 'WEEK') return day - ((((day + 3) % 7) + 7) % 7); // 1970-01-01 was a Thursday
  const date = new Date(day * DAY_MS);
  return Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), 1) / DAY_MS;
}

// Time zones ---------------------------------------------------------------------------------------

const ZONE_MAX_LENGTH = 64;
/** Formatters by canonical zone name (Intl's own: a few hundred exist). */
const formatters = new Map<string, Intl.DateTimeFormat>();
/** Names as clients spell them (any casing, aliases) to the canonical one: bounded, as spellings are not. */
const canonical = new LRUCache<string, string>({ max: 1000 });

/** The zone's canonical name; BAD_USER_INPUT naming it when it is not an IANA zone name. */
export function checkTimeZone(zone: string, argument = 'timeZone'): string {
  const known = canonical.get(zone);
  if (known !== undefined) return known;
  let formatter: Intl.DateTimeFormat | null = null;
  if (zone.length > 0 && zone.length <= ZONE_MAX_LENGTH && /^[A-Za-z0-9_+\-/]+$/.test(zone)) {
    try {
      formatter = new Intl.DateTimeFormat('en-US', {
        timeZone: zone,
        hourCycle: 'h23',
        year: 'numeric',
        month: 'numeric',
        day: 'numeric',
        hour: 'numeric',
        minute: 'numeric',
        second: 'numeric',
      });
    } catch {
      formatter = null;
    }
  }
  if (!formatter) {
    throw new BadUserInputError(
      `"${argument}" must be an IANA time zone name such as "UTC" or "America/Sao_Paulo", got ${JSON.stringify(zone.slice(0, ZONE_MAX_LENGTH))}`,
      argument,
    );
  }
  const name = formatter.resolvedOptions().timeZone;
  if (!formatters.has(name)) formatters.set(name, formatter);
  canonical.set(zone, name);
  return name;
}

interface ZoneClock {
  /** The local calendar day (days since the epoch) of an instant. */
  localDay(time: number): number;
  /** The first instant of a local calendar day. */
  midnight(day: number): number;
}

/** Offsets per UTC day, per zone: a day whose offset does not change is one lookup for all its leads. */
const zoneDays = new Map<string, Map<number, number | null>>();
const ZONE_DAYS_MAX = 50_000;

function zoneClock(zone: string): ZoneClock {
  if (zone === 'UTC' || zone === 'Etc/UTC' || checkTimeZone(zone) === 'UTC') {
    return { localDay: (time) => Math.floor(time / DAY_MS), midnight: (day) => day * DAY_MS };
  }
  const name = checkTimeZone(zone);
  const formatter = formatters.get(name) as Intl.DateTimeFormat;
  const offsetAt = (time: number): number => {
    const parts: Record<string, number> = {};
    for (const part of formatter.formatToParts(new Date(time))) if (part.type !== 'literal') parts[part.type] = Number(part.value);
    const local = Date.UTC(parts.year as number, (parts.month as number) - 1, parts.day, parts.hour, parts.minute, parts.second);
    return local - (time - (((time % 1000) + 1000) % 1000));
  };
  let days = zoneDays.get(name);
  if (!days || days.size > ZONE_DAYS_MAX) {
    days = new Map();
    zoneDays.set(name, days);
  }
  const known = days;
  const offset = (time: number): number => {
    const day = Math.floor(time / DAY_MS);
    let fixed = known.get(day);
    if (fixed === undefined) {
      const start = offsetAt(day * DAY_MS);
      fixed = start === offsetAt(day * DAY_MS + DAY_MS - 1) ? start : null;
      known.set(day, fixed);
    }
    // A day the offset changes on (daylight saving time): this instant's own.
    return fixed ?? offsetAt(time);
  };
  return {
    localDay: (time) => Math.floor((time + offset(time)) / DAY_MS),
    midnight: (day) => {
      const guess = day * DAY_MS - offset(day * DAY_MS);
      return day * DAY_MS - offset(guess);
    },
  };
}
