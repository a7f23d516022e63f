import { randomUUID } from 'node:crypto';

/** A client's own id is kept when it is short and safe to log and echo; otherwise the request gets a UUID. */
const SAFE_ID = /^[A-Za-z0-9._:-]{1,64}$/;

/** The header a client may send its own id in, and the response echoes. */
export const REQUEST_ID_HEADER = 'x-request-id';

/** One id per request: the client's safe `x-request-id`, or a new UUID (set where the gateway listens, see server.ts). */
export function requestIdFor(given: string | string[] | undefined | null): string {
  const value = Array.isArray(given) ? given[0] : given;
  return value && SAFE_ID.test(value) ? value : randomUUID();
}
