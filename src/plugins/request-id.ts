import { randomUUID } from 'node:crypto';
import type { Plugin } from 'graphql-yoga';

/** A client's own id is kept when it is short and safe to log and echo; otherwise the request gets a UUID. */
const SAFE_ID = /^[A-Za-z0-9._:-]{1,64}$/;
const HEADER = 'x-request-id';

export interface RequestIdPlugin extends Plugin {
  /** The request's id: the one its response echoes in `x-request-id` and its log lines carry. */
  idOf(request: Request): string;
}

/** One id per request: the client's safe `x-request-id`, or a new UUID; echoed on every response. */
export function useRequestId(): RequestIdPlugin {
  const ids = new WeakMap<Request, string>();
  const idOf = (request: Request): string => {
    let id = ids.get(request);
    if (id === undefined) {
      const given = request.headers.get(HEADER);
      id = given && SAFE_ID.test(given) ? given : randomUUID();
      ids.set(request, id);
    }
    return id;
  };
  return {
    idOf,
    onResponse({ request, response }) {
      response.headers.set(HEADER, idOf(request));
    },
  };
}
