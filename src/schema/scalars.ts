import { Kind } from 'graphql';
import { builder } from '../builder.js';
import { BadUserInputError } from '../errors.js';

/** Full ISO-8601 date-times with a zone (`2026-05-01T12:00:00Z`), or a bare date taken as UTC midnight. */
const ISO_DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?(Z|[+-](\d{2}):?(\d{2})))?$/i;

/** The calendar and clock fields exist: JavaScript would take 2026-02-30 as 2 March and 24:30 as the next day. */
function isRealInstant(match: RegExpExecArray): boolean {
  const [year, month, day, hour = 0, minute = 0, second = 0, , offsetHours = 0, offsetMinutes = 0] = match
    .slice(1)
    .map((part) => (part === undefined || /^z$/i.test(part) ? undefined : Number(part)));
  if (year === undefined || month === undefined || day === undefined) return false;
  const daysInMonth = new Date(Date.UTC(year, month, 0)).getUTCDate();
  return (
    month >= 1 &&
    month <= 12 &&
    day >= 1 &&
    day <= daysInMonth &&
    hour <= 23 &&
    minute <= 59 &&
    second <= 59 &&
    offsetHours <= 23 &&
    offsetMinutes <= 59
  );
}

function parseDateTime(value: unknown): Date {
  const text = typeof value === 'string' ? value.trim() : '';
  const match = ISO_DATE_TIME.exec(text);
  const date = match && isRealInstant(match) ? new Date(text) : null;
  if (!date || Number.isNaN(date.getTime())) {
    throw new BadUserInputError(
      `DateTime must be an ISO-8601 date-time with a time zone, like "2026-05-01T12:00:00Z", or a date, like "2026-05-01"; got ${JSON.stringify(value)?.slice(0, 60)}`,
    );
  }
  return date;
}

export const DateTime = builder.scalarType('DateTime', {
  description: 'An instant as an ISO-8601 string, always returned in UTC (`2026-05-01T12:00:00.000Z`).',
  serialize: (value) => value.toISOString(),
  parseValue: parseDateTime,
  parseLiteral: (ast) => parseDateTime(ast.kind === Kind.STRING ? ast.value : undefined),
});
