import { createHash } from 'node:crypto';
import type { Plugin } from 'graphql-yoga';
import { type CompressionPolicy, compressSync, type Encoding, negotiator } from '../compression.js';

/**
 * Ours: no plugin does this; Yoga's own result processor stringifies every response again.
 *
 * The HTTP side of an answer without errors. Response-cache hits hand Yoga a shallow copy of the stored
 * result, with the same `data`: send the JSON bytes encoded the first time instead of stringifying 30 KB
 * per request, and the compressed bytes compressed the first time. A stored answer carries an ETag
 * and `Cache-Control: private, max-age=<seconds its cache entry has left>`; a matching `If-None-Match`
 * gets a 304 without a body. The ETag is derived from the requesting tenant's own answer (its cache key,
 * which starts with the tenant's label, and its bytes), so another tenant, or the same one after the
 * entry was refilled with other data, never matches. Answers that are not stored keep the listener's
 * `Cache-Control: no-store`; answers with errors, batches and streams go to Yoga's own processor.
 */
export interface ResultBodiesOptions {
  /** Milliseconds the response cache still holds the entry of this key; 0 when it holds none. */
  readonly validFor: (cacheKey: string) => number;
  /** Null: bodies go out uncompressed whatever the client accepts. */
  readonly compression: CompressionPolicy | null;
}

interface Representation {
  readonly body: Uint8Array<ArrayBuffer>;
  /** Headers the result asked for (Yoga's `extensions.http`), without the response cache's own validators. */
  readonly headers: Readonly<Record<string, string>>;
  /** The response-cache key the answer is stored under (the plugin's ETag header); null when the plugin did not store it. */
  readonly cacheKey: string | null;
  etag: string | null;
  readonly compressed: Partial<Record<Encoding, Uint8Array<ArrayBuffer>>>;
}

/** The response cache's own validators: its ETag is the cache key (the same for every version of an answer), so it stays internal. */
const CACHE_VALIDATORS = new Set(['etag', 'last-modified']);

/** Weak (the same JSON in any content coding): `W/"<tenant label>-<hash of the key and the bytes>"`. */
const etagOf = (cacheKey: string, body: Uint8Array): string =>
  `W/"${cacheKey.slice(0, 16)}-${createHash('sha256').update(cacheKey).update(body).digest('hex').slice(0, 32)}"`;

/** `If-None-Match` by weak comparison (RFC 9110 13.1.2): any listed tag, with or without `W/`, or `*`. */
export function matchesIfNoneMatch(header: string, etag: string): boolean {
  const opaque = etag.replace(/^W\//, '');
  return header.split(',').some((candidate) => {
    const tag = candidate.trim();
    return tag === '*' || tag.replace(/^W\//, '') === opaque;
  });
}

export function useCachedResultBodies(options: ResultBodiesOptions): Plugin {
  // Encoded once: a hit writes the same bytes instead of re-encoding a large string per request.
  const bodies = new WeakMap<object, Representation>();
  const { compression } = options;
  const encodingFor = negotiator();
  const encode = (result: Record<string, unknown>): Representation => {
    // `extensions.http` is Yoga's internal channel for response headers (the response cache's ETag):
    // it becomes headers, never part of the body.
    const { extensions, ...rest } = result as { extensions?: Record<string, unknown> };
    const { http, ...otherExtensions } = extensions ?? {};
    const headers: Record<string, string> = {};
    let cacheKey: string | null = null;
    const httpHeaders = (http as { headers?: Record<string, unknown> } | undefined)?.headers ?? {};
    for (const [name, value] of Object.entries(httpHeaders)) {
      if (typeof value !== 'string') continue;
      if (name.toLowerCase() === 'etag') cacheKey = value;
      if (!CACHE_VALIDATORS.has(name.toLowerCase())) headers[name] = value;
    }
    const visible = Object.keys(otherExtensions).length > 0 ? { ...rest, extensions: otherExtensions } : rest;
    return { body: new TextEncoder().encode(JSON.stringify(visible)), headers, cacheKey, etag: null, compressed: {} };
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
        let entry = bodies.get(key);
        if (entry === undefined) {
          entry = encode(processed as Record<string, unknown>);
          bodies.set(key, entry);
        }
        const headers: Record<string, string> = { ...entry.headers };
        const validMs = entry.cacheKey === null ? 0 : options.validFor(entry.cacheKey);
        if (entry.cacheKey !== null && validMs > 0) {
          entry.etag ??= etagOf(entry.cacheKey, entry.body);
          headers.etag = entry.etag;
          headers['cache-control'] = `private, max-age=${Math.floor(validMs / 1000)}`;
          const condition = request.headers.get('if-none-match');
          if (condition !== null && matchesIfNoneMatch(condition, entry.etag)) return new fetchAPI.Response(null, { status: 304, headers });
        }
        headers['content-type'] = `${accepted}; charset=utf-8`;
        const encoding =
          compression && entry.body.byteLength >= compression.minBytes ? encodingFor(request.headers.get('accept-encoding')) : null;
        if (encoding === null) return new fetchAPI.Response(entry.body, { status: 200, headers });
        headers['content-encoding'] = encoding;
        entry.compressed[encoding] ??= compressSync(entry.body, encoding);
        return new fetchAPI.Response(entry.compressed[encoding], { status: 200, headers });
      }, mediaType);
    },
  };
}
