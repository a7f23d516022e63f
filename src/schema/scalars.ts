import { Kind } from 'graphql';
import { builder } from '../builder.js';
import { BadUserInputError } from '../errors.js';

/** Full ISO-8601 date-times with a zone (`2026-05-01T12:00:00Z`), or a bare date taken as UTC midnight. */
const ISO_DATE_TIME = /^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2}))?$/i;

function parseDateTime(value: unknown): Date {
  const date = typeof value === 'string' && ISO_DATE_TIME.test(value.trim()) ? new Date(value.trim()) : null;
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
