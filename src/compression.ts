/**
 * Response compression: which encoding a client accepts, and the bytes in it. Ours, on Node's zlib:
 * Yoga's `useContentEncoding` (@whatwg-node/server) compresses every response again as a stream, so a
 * response-cache hit would pay for it on every request, and it also inflates compressed request bodies
 * past the body-size limit. Here a body is compressed once and the bytes are kept where the body is
 * (result-bodies.ts for cached answers, graphiql.ts for the GraphiQL page).
 */
import { brotliCompress, brotliCompressSync, constants, gzip, gzipSync } from 'node:zlib';

export type Encoding = 'br' | 'gzip';

export interface CompressionPolicy {
  /** `LEADGRAPH_COMPRESSION_MIN_BYTES`: smaller bodies go out as they are (compressing them saves less than it costs). */
  readonly minBytes: number;
}

/** Brotli at quality 5: about gzip's speed, 10 to 15% smaller on this API's JSON (quality 11 takes 20 s on GraphiQL's 9 MB). */
const BROTLI_QUALITY = 5;
const GZIP_LEVEL = 6;

const brotliOptions = (size: number) => ({
  params: { [constants.BROTLI_PARAM_QUALITY]: BROTLI_QUALITY, [constants.BROTLI_PARAM_SIZE_HINT]: size },
});

/** Compresses on the event loop: for bodies of a few hundred KB at most (a 270 KB page takes 3 to 4 ms), once per cached body. */
export function compressSync(body: Uint8Array, encoding: Encoding): Uint8Array<ArrayBuffer> {
  const out = encoding === 'br' ? brotliCompressSync(body, brotliOptions(body.length)) : gzipSync(body, { level: GZIP_LEVEL });
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength) as Uint8Array<ArrayBuffer>;
}

/** Compresses on libuv's thread pool: for large bodies (GraphiQL's bundle), without blocking other requests. */
export function compressAsync(body: Uint8Array, encoding: Encoding): Promise<Uint8Array<ArrayBuffer>> {
  return new Promise((resolve, reject) => {
    const done = (error: Error | null, out: Buffer) => {
      if (error) reject(error);
      else resolve(new Uint8Array(out.buffer, out.byteOffset, out.byteLength) as Uint8Array<ArrayBuffer>);
    };
    if (encoding === 'br') brotliCompress(body, brotliOptions(body.length), done);
    else gzip(body, { level: GZIP_LEVEL }, done);
  });
}

/** The encoding to send for an `Accept-Encoding` header: brotli over gzip, never one the client gave q=0; null for none. */
export function negotiate(header: string | null | undefined): Encoding | null {
  if (!header) return null;
  let br = false;
  let gz = false;
  let any = false;
  for (const part of header.split(',')) {
    const [token = '', ...params] = part.split(';');
    const name = token.trim().toLowerCase();
    const q = params.map((param) => /^\s*q\s*=\s*([0-9.]+)\s*$/i.exec(param)?.[1]).find((value) => value !== undefined);
    const accepted = q === undefined || Number(q) > 0;
    if (name === 'br') br = accepted;
    else if (name === 'gzip' || name === 'x-gzip') gz = accepted;
    else if (name === '*') any = accepted;
  }
  if (br) return 'br';
  if (gz) return 'gzip';
  // `*` covers the codings the header does not name.
  if (any && !/\bbr\b/i.test(header)) return 'br';
  if (any && !/\bgzip\b/i.test(header)) return 'gzip';
  return null;
}

/** `negotiate` for the header clients send on every request, its last answer kept (a client sends the same header each time). */
export function negotiator(): (header: string | null | undefined) => Encoding | null {
  let lastHeader: string | null | undefined;
  let lastEncoding: Encoding | null = null;
  return (header) => {
    if (header !== lastHeader) {
      lastHeader = header;
      lastEncoding = negotiate(header);
    }
    return lastEncoding;
  };
}
