/**
 * GraphiQL, served from the installed @graphql-yoga/render-graphiql (no CDN), split so a browser loads
 * its 9 MB once per release. The package's renderer inlines everything (script, styles, Monaco's
 * workers, a 150 KB favicon) into the page at `/graphql`, which no cache may keep for long: the same URL
 * answers queries. Here the page is a small shell, and the parts that only change with the package
 * are assets under `/graphiql/<content hash>/`, with `Cache-Control: public, max-age=1 year, immutable`
 * (they hold no tenant data), an ETag, and brotli or gzip compressed once, off the event loop.
 */
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { Plugin } from 'graphql-yoga';
import { type CompressionPolicy, compressAsync, type Encoding, negotiate } from '../compression.js';
import { memoizeByJson } from '../memoize.js';
import { matchesIfNoneMatch } from './result-bodies.js';

/** Where the assets are served; the content hash in their path changes with every package version. */
export const GRAPHIQL_ASSETS_PATH = '/graphiql/';

const IMMUTABLE = 'public, max-age=31536000, immutable';

/** What the package's renderer inlines (its own module, beside the renderer: the package exports only the renderer). */
interface GraphiQLParts {
  readonly js: string;
  readonly css: string;
  readonly favicon: string;
  readonly editorWorkerService: string;
  readonly jsonWorker: string;
  readonly graphqlWorker: string;
}

function loadParts(): GraphiQLParts {
  const require = createRequire(import.meta.url);
  const parts = require(join(dirname(require.resolve('@graphql-yoga/render-graphiql')), 'graphiql.js')) as Partial<GraphiQLParts>;
  for (const name of ['js', 'css', 'favicon', 'editorWorkerService', 'jsonWorker', 'graphqlWorker'] as const) {
    if (typeof parts[name] !== 'string')
      throw new Error(`@graphql-yoga/render-graphiql has no "${name}" part any more: see src/plugins/graphiql.ts`);
  }
  return parts as GraphiQLParts;
}

interface Asset {
  readonly path: string;
  readonly type: string;
  readonly body: Uint8Array<ArrayBuffer>;
  readonly etag: string;
  readonly compressed: Map<Encoding, Promise<Uint8Array<ArrayBuffer>>>;
}

function asset(name: string, type: string, body: Uint8Array<ArrayBuffer>): Asset {
  const hash = createHash('sha256').update(body).digest('hex');
  return { path: `${GRAPHIQL_ASSETS_PATH}${hash.slice(0, 16)}/${name}`, type, body, etag: `"${hash.slice(0, 32)}"`, compressed: new Map() };
}

/** The same script as the package's page: Monaco's workers as blob URLs, then GraphiQL itself (the global `YogaGraphiQL`). */
function bundleScript(parts: GraphiQLParts): string {
  return `(function () {
  function prepareBlob(workerContent) {
    return URL.createObjectURL(new Blob([workerContent], { type: 'application/javascript' }));
  }
  var workers = {
    editorWorkerService: prepareBlob(${JSON.stringify(parts.editorWorkerService)}),
    json: prepareBlob(${JSON.stringify(parts.jsonWorker)}),
    graphql: prepareBlob(${JSON.stringify(parts.graphqlWorker)}),
  };
  self['MonacoEnvironment'] = {
    globalAPI: false,
    getWorkerUrl: function (moduleId, label) {
      return workers[label];
    },
  };
})();
${parts.js};
`;
}

function createAssets(): { js: Asset; css: Asset; favicon: Asset } {
  const parts = loadParts();
  const text = (value: string) => new TextEncoder().encode(value) as Uint8Array<ArrayBuffer>;
  const icon = /^data:([^;,]+);base64,(.*)$/s.exec(parts.favicon);
  const iconBytes = icon?.[2] ? Buffer.from(icon[2], 'base64') : Buffer.alloc(0);
  return {
    js: asset('graphiql.js', 'text/javascript; charset=utf-8', text(bundleScript(parts))),
    css: asset('graphiql.css', 'text/css; charset=utf-8', text(parts.css)),
    favicon: asset('favicon.ico', icon?.[1] ?? 'image/x-icon', new Uint8Array(iconBytes) as Uint8Array<ArrayBuffer>),
  };
}

const escapeHtml = (text: string): string => text.replace(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`);
/** JSON inside a <script>: no `</script>` or `<!--` can end it early. */
const scriptJson = (value: unknown): string => JSON.stringify(value ?? {}).replace(/</g, '\\u003c');

export interface GraphiQLPage {
  /** Yoga's `renderGraphiQL`: the shell page for these options (memoized). */
  readonly render: (options: { title?: string } & Record<string, unknown>) => string;
  /** Serves the assets under `/graphiql/`. */
  readonly plugin: Plugin;
  /** The paths of the assets (they are built on first use). */
  assetPaths(): readonly string[];
}

export function createGraphiQLPage(options: { compression: CompressionPolicy | null }): GraphiQLPage {
  let built: ReturnType<typeof createAssets> | undefined;
  const assets = () => {
    built ??= createAssets();
    return built;
  };
  const byPath = () => new Map(Object.values(assets()).map((one) => [one.path, one]));
  let paths: Map<string, Asset> | undefined;

  const shell = (graphiql: { title?: string } & Record<string, unknown>): string => {
    const { js, css, favicon } = assets();
    return `<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8" />
    <title>${escapeHtml(graphiql.title || 'GraphiQL')}</title>
    <link rel="icon" href="${favicon.path}" />
    <link rel="stylesheet" href="${css.path}" />
  </head>
  <body id="body" class="no-focus-outline">
    <noscript>You need to enable JavaScript to run this app.</noscript>
    <div id="root"></div>
    <script src="${js.path}"></script>
    <script>
      YogaGraphiQL.renderYogaGraphiQL(document.querySelector('#root'), ${scriptJson(graphiql)});
    </script>
  </body>
</html>
`;
  };

  const encodedBody = (one: Asset, encoding: Encoding): Promise<Uint8Array<ArrayBuffer>> => {
    let body = one.compressed.get(encoding);
    if (!body) {
      body = compressAsync(one.body, encoding);
      one.compressed.set(encoding, body);
      // A failure is not kept: the next request compresses again.
      body.catch(() => one.compressed.delete(encoding));
    }
    return body;
  };

  return {
    render: memoizeByJson(shell, 8),
    assetPaths: () => Object.values(assets()).map((one) => one.path),
    plugin: {
      onRequest({ request, url, endResponse, fetchAPI }) {
        if (!url.pathname.startsWith(GRAPHIQL_ASSETS_PATH)) return undefined;
        paths ??= byPath();
        const found = paths.get(url.pathname);
        const method = request.method;
        if (!found || (method !== 'GET' && method !== 'HEAD')) {
          endResponse(new fetchAPI.Response('Not Found\n', { status: 404, headers: { 'content-type': 'text/plain; charset=utf-8' } }));
          return undefined;
        }
        const headers: Record<string, string> = { 'cache-control': IMMUTABLE, etag: found.etag, 'content-type': found.type };
        const condition = request.headers.get('if-none-match');
        if (condition !== null && matchesIfNoneMatch(condition, found.etag)) {
          endResponse(new fetchAPI.Response(null, { status: 304, headers }));
          return undefined;
        }
        const encoding =
          options.compression && found.body.byteLength >= options.compression.minBytes
            ? negotiate(request.headers.get('accept-encoding'))
            : null;
        if (encoding === null) {
          endResponse(new fetchAPI.Response(method === 'HEAD' ? null : found.body, { status: 200, headers }));
          return undefined;
        }
        return encodedBody(found, encoding).then((body) => {
          headers['content-encoding'] = encoding;
          if (method === 'HEAD') headers['content-length'] = String(body.byteLength);
          endResponse(new fetchAPI.Response(method === 'HEAD' ? null : body, { status: 200, headers }));
        });
      },
    },
  };
}
