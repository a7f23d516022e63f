import type { Plugin } from 'graphql-yoga';

/**
 * Ours: no plugin does this; Yoga's own result processor stringifies every response again.
 *
 * Response-cache hits hand Yoga a shallow copy of the stored result, with the same `data`: send the
 * JSON bytes encoded the first time instead of stringifying 30 KB per request. Only single results
 * without errors; everything else goes to Yoga's own processor (status codes, error internals,
 * content negotiation).
 */
export function useCachedResultBodies(): Plugin {
  // Encoded once: a hit writes the same bytes instead of re-encoding a large string per request.
  const bodies = new WeakMap<object, { body: Uint8Array<ArrayBuffer>; headers: Record<string, string> }>();
  const encode = (result: Record<string, unknown>) => {
    // `extensions.http` is Yoga's internal channel for response headers (the response cache's ETag):
    // it becomes headers, never part of the body.
    const { extensions, ...rest } = result as { extensions?: Record<string, unknown> };
    const { http, ...otherExtensions } = extensions ?? {};
    const headers: Record<string, string> = {};
    const httpHeaders = (http as { headers?: Record<string, unknown> } | undefined)?.headers ?? {};
    for (const [name, value] of Object.entries(httpHeaders)) if (typeof value === 'string') headers[name] = value;
    const visible = Object.keys(otherExtensions).length > 0 ? { ...rest, extensions: otherExtensions } : rest;
    return { body: new TextEncoder().encode(JSON.stringify(visible)), headers };
  };
  return {
    onResultProcess({ request, result, setResultProcessor }) {
      // The client's own preference, in its order; like Yoga, no Accept or a wildcard means application/json.
      const accepted = (request.headers.get('accept') ?? '*/*').split(',').map((part) => part.split(';')[0]?.trim());
      const known = accepted.find(
        (type) => type === 'application/json' || type === 'application/graphql-response+json' || type === '*/*' || type === 'application/*',
      );
      const mediaType = known === '*/*' || known === 'application/*' ? 'application/json' : known;
      if (!mediaType || Array.isArray(result) || typeof result !== 'object' || result === null || Symbol.asyncIterator in result) return;
      if ('errors' in result && result.errors) return;
      setResultProcessor((processed, fetchAPI, accepted) => {
        // A response-cache hit is a fresh shallow copy of the stored result (the plugin adds a marker
        // symbol), so the copy is no key; its `data` is the stored object itself, shared by every hit of
        // that entry (and the entry's headers were fixed when it was stored).
        const { data } = processed as { data?: unknown };
        const key = typeof data === 'object' && data !== null ? data : (processed as object);
        let encoded = bodies.get(key);
        if (encoded === undefined) {
          encoded = encode(processed as Record<string, unknown>);
          bodies.set(key, encoded);
        }
        return new fetchAPI.Response(encoded.body, {
          status: 200,
          headers: { ...encoded.headers, 'content-type': `${accepted}; charset=utf-8` },
        });
      }, mediaType);
    },
  };
}
