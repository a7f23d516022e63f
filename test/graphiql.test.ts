import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGraphiQLPage } from '../src/plugins/graphiql.js';
import { type Harness, startHarness } from './support/harness.js';
import { type RawResponse, rawRequest } from './support/net.js';

const header = (response: RawResponse, name: string): string => String(response.headers[name] ?? '');

describe('the GraphiQL page over HTTP', () => {
  let harness: Harness;
  let assets: string[];
  const origin = () => harness.url.replace('/graphql', '');
  beforeAll(async () => {
    harness = await startHarness({ demo: { leads: 20 } });
    const page = await rawRequest(harness.url, { headers: { accept: 'text/html' } });
    assets = [...page.body.toString('utf8').matchAll(/(?:src|href)="(\/graphiql\/[0-9a-f]{16}\/[a-z.]+)"/g)].map(
      (match) => match[1] as string,
    );
  });
  afterAll(() => harness.close());

  it('is a small page that is never kept, loading three assets of the gateway', async () => {
    const page = await rawRequest(harness.url, { headers: { accept: 'text/html', 'accept-encoding': 'gzip, br' } });
    expect(page.status).toBe(200);
    expect(page.body.length).toBeLessThan(4_000);
    expect(header(page, 'cache-control')).toBe('no-store');
    expect(assets.map((path) => path.split('/').at(-1)).sort()).toEqual(['favicon.ico', 'graphiql.css', 'graphiql.js']);
  });

  it('sends each asset with an ETag and a year of public, immutable caching; brotli or gzip as accepted, the same bytes inflated', async () => {
    const sizes = { identity: 0, gzip: 0, br: 0 };
    for (const path of assets) {
      const identity = await rawRequest(`${origin()}${path}`);
      expect(identity.status).toBe(200);
      expect(header(identity, 'cache-control')).toBe('public, max-age=31536000, immutable');
      expect(header(identity, 'etag')).toMatch(/^"[0-9a-f]{32}"$/);
      expect(identity.headers['content-encoding']).toBeUndefined();
      const br = await rawRequest(`${origin()}${path}`, { headers: { 'accept-encoding': 'gzip, deflate, br' } });
      expect(header(br, 'content-encoding')).toBe('br');
      expect(brotliDecompressSync(br.body).equals(identity.body)).toBe(true);
      const gzip = await rawRequest(`${origin()}${path}`, { headers: { 'accept-encoding': 'gzip' } });
      expect(header(gzip, 'content-encoding')).toBe('gzip');
      expect(gunzipSync(gzip.body).equals(identity.body)).toBe(true);
      sizes.identity += identity.body.length;
      sizes.gzip += gzip.body.length;
      sizes.br += br.body.length;
      const revalidated = await rawRequest(`${origin()}${path}`, { headers: { 'if-none-match': header(identity, 'etag') } });
      expect(revalidated.status).toBe(304);
      expect(revalidated.body.length).toBe(0);
    }
    // GraphiQL's bundle is about 9 MB; compressed it is a quarter of that or less.
    expect(sizes.identity).toBeGreaterThan(8_000_000);
    expect(sizes.gzip).toBeLessThan(sizes.identity * 0.3);
    expect(sizes.br).toBeLessThan(sizes.gzip);
  });

  it('the script is GraphiQL with its Monaco workers; an unknown asset is a 404', async () => {
    const script = (await rawRequest(`${origin()}${assets.find((path) => path.endsWith('.js'))}`)).body.toString('utf8');
    expect(script).toContain('renderYogaGraphiQL');
    expect(script).toContain("self['MonacoEnvironment']");
    const missing = await rawRequest(`${origin()}/graphiql/0000000000000000/graphiql.js`);
    expect(missing.status).toBe(404);
    expect((await rawRequest(`${origin()}${assets[0]}`, { method: 'POST', body: '{}' })).status).toBe(404);
  });

  it('keeps the options inside their script: a query holding </script> cannot end it', () => {
    const page = createGraphiQLPage({ compression: null });
    const html = page.render({ title: '<b>x</b>', defaultQuery: '# </script><script>alert(1)</script>' });
    expect(html).toContain('<title>&#60;b&#62;x&#60;/b&#62;</title>');
    expect(html).not.toContain('</script><script>alert(1)');
    expect(html.match(/<\/script>/g)).toHaveLength(2);
  });
});
