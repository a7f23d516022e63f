/**
 * Kommo API v4's departures from plain HTTP (upstream contract): an empty list is 204 No Content with
 * no body, and a 429 says when to come back in its problem+json body (`"retry_after": 300`, seconds)
 * rather than in a Retry-After header.
 */
import type { ResponseRules } from '../../transport/http.js';

export const kommoResponseRules: ResponseRules = {
  emptyStatuses: [204],
  retryAfter(_status, text) {
    try {
      const body = JSON.parse(text) as { retry_after?: unknown } | null;
      const seconds = body?.retry_after;
      return typeof seconds === 'number' && Number.isFinite(seconds) && seconds >= 0 ? Math.ceil(seconds) : undefined;
    } catch {
      return undefined;
    }
  },
};
