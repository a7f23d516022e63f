/** Tolerant readers of upstream values, shared by the source adapters and by id arguments. */
import type { IdName } from './adapter.js';

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * A Kommo id (a positive whole number, sent as a string or a number), normalized; null when it is
 * not one. `allowZero` for group ids: group 0 is Kommo's main group.
 */
export function toId(value: unknown, allowZero = false): string | null {
  const text = typeof value === 'number' || typeof value === 'string' ? String(value).trim() : '';
  if (!/^\d{1,20}$/.test(text)) return null;
  const normalized = text.replace(/^0+(?=\d)/, '');
  return normalized === '0' && !allowZero ? null : normalized;
}

export function toNumber(value: unknown): number | null {
  if (typeof value === 'number') return Number.isFinite(value) ? value : null;
  if (typeof value === 'string' && value.trim() !== '') {
    const parsed = Number(value);
    return Number.isFinite(parsed) ? parsed : null;
  }
  return null;
}

export function toInt(value: unknown): number | null {
  const number = toNumber(value);
  return number === null ? null : Math.trunc(number);
}

export function idName(kommoId: string | null, name: string | null): IdName | null {
  return kommoId ? { kommoId, name } : null;
}
