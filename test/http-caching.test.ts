import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { negotiate } from '../src/compression.js';
import { matchesIfNoneMatch } from '../src/plugins/result-bodies.js';
import { type Harness, startHarness } from './support/harness.js';
import { type RawResponse, rawRequest } from './support/net.js';
import { startRudeUpstream } from './support/rude-upstream.js';
import { startTestUpstream, type TestUpstream } from './support/test-upstream.js';

const CACHED = { LEADGRAPH_CACHE_TTL_LEADS_SECONDS: '600', LEADGRAPH_CACHE_TTL_REFERENCE_SECONDS: '600' };
const PAGE = '{ leads(first: 30) { edges { node { kommoId name price tags { name } } } } }';
const ETAG = /^W\/"[0-9a-f]{16}-[0-9a-f]{32}"$/;

const header = (response: RawResponse, name: string): string => String(response.headers[name] ?? '');

/** A POST as a GraphQL client sends it, answered as sent on the wire. */
const post = (harness: Harness, query: string, headers: Record<string, string> = {}) =>
  rawRequest(harness.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json', ...headers },
    body: JSON.stringify({ query }),
  });

/** A GET with the CSRF header a script sends (a browser cannot send it cross-site without a preflight). */
const get = (harness: Harness, query: string, headers: Record<string, string> = {}) =>
  rawRequest(`${harness.url}?query=${encodeURIComponent(query)}`, {
    headers: { accept: 'application/graphql-response+json', 'x-graphql-yoga-csrf': '1', ...headers },
  });

const json = (response: RawResponse) =>
  JSON.parse(response.body.toString('utf8')) as { data?: unknown; errors?: { extensions?: { code?: string } }[] };

describe('HTTP caching of answers', () => {
  let harness: Harness;
  beforeAll(async () => {
    harness = await startHarness({ env: CACHED });
  });
  afterAll(() => harness.close());

  it('an answer carries a weak ETag, Cache-Control private with the seconds its cache entry has left, and Vary on what it depends on', async () => {
    const first = await post(harness, PAGE);
    expect(first.status).toBe(200);
    expect(header(first, 'etag')).toMatch(ETAG);
    expect(header(first, 'cache-control')).toMatch(/^private, max-age=(59\d|600)$/);
    expect(header(first, 'vary')).toBe('Accept, Accept-Encoding');
    // A hit a second later: the same validators, a max-age that counts down from the same entry.
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    const hit = await post(harness, PAGE);
    expect(header(hit, 'etag')).toBe(header(first, 'etag'));
    const maxAge = (response: RawResponse) => Number(/max-age=(\d+)/.exec(header(response, 'cache-control'))?.[1]);
    expect(maxAge(hit)).toBeLessThan(maxAge(first));
    expect(maxAge(hit)).toBeGreaterThan(590);
    expect(hit.body.equals(first.body)).toBe(true);
  });

  it('If-None-Match gets a 304 without a body, by POST and by GET, with the same ETag and Cache-Control', async () => {
    const etag = header(await post(harness, PAGE), 'etag');
    const byPost = await post(harness, PAGE, { 'if-none-match': etag });
    const byGet = await get(harness, PAGE, { 'if-none-match': etag });
    for (const response of [byPost, byGet]) {
      expect(response.status).toBe(304);
      expect(response.body.length).toBe(0);
      expect(header(response, 'etag')).toBe(etag);
      expect(header(response, 'cache-control')).toMatch(/^private, max-age=\d+$/);
      expect(header(response, 'vary')).toBe('Accept, Accept-Encoding');
    }
    // A GET is still a GET a page on another site could send: without its CSRF header it runs nothing, 304 or not.
    const forged = await rawRequest(`${harness.url}?query=${encodeURIComponent(PAGE)}`, {
      headers: { accept: 'application/json', 'if-none-match': etag },
    });
    expect(forged.status).toBe(403);
    expect(json(forged).errors?.[0]?.extensions?.code).toBe('CSRF_HEADER_REQUIRED');
  });

  it('matches an ETag in a list, with or without W/, and * ; the ETag of another answer gets the answer', async () => {
    const etag = header(await post(harness, PAGE), 'etag');
    const other = header(await post(harness, '{ pipelines { name } }'), 'etag');
    expect(other).toMatch(ETAG);
    expect(other).not.toBe(etag);
    expect((await post(harness, PAGE, { 'if-none-match': `${other}, ${etag.slice(2)}` })).status).toBe(304);
    expect((await post(harness, PAGE, { 'if-none-match': '*' })).status).toBe(304);
    const mismatch = await post(harness, PAGE, { 'if-none-match': other });
    expect(mismatch.status).toBe(200);
    expect(header(mismatch, 'etag')).toBe(etag);
    expect(matchesIfNoneMatch('"a", W/"b"', 'W/"b"')).toBe(true);
    expect(matchesIfNoneMatch('"a"', 'W/"b"')).toBe(false);
  });

  it('answers with errors say no-store and carry no ETag', async () => {
    for (const response of [await post(harness, '{ nope }'), await post(harness, '{ leads(after: "zzz") { edges { cursor } } }')]) {
      expect(json(response).errors?.length).toBeGreaterThan(0);
      expect(header(response, 'cache-control')).toBe('no-store');
      expect(response.headers.etag).toBeUndefined();
    }
  });

  it('an answer the response cache does not keep says no-store and carries no ETag', async () => {
    const uncached = await startHarness({ upstream: harness.demo, env: { ...CACHED, LEADGRAPH_RESPONSE_CACHE_ENTRIES: '0' } });
    try {
      const response = await post(uncached, PAGE);
      expect(json(response).errors).toBeUndefined();
      expect(header(response, 'cache-control')).toBe('no-store');
      expect(response.headers.etag).toBeUndefined();
    } finally {
      await uncached.close();
    }
  });
});

describe('an ETag names one version of an answer', () => {
  it('once the cache entry is refilled with changed data, the old ETag gets the new answer, and the new ETag its 304', async () => {
    const demo = await startTestUpstream({ leads: 20 });
    // The account renames the lead: from `renamed` on, a proxy in front of the demo (which keeps its
    // serialized pages) answers with the new name.
    let renamed = false;
    const proxy = await startRudeUpstream(demo.url, (request, response) => {
      if (!renamed) return false;
      void fetch(new URL(request.url ?? '/', demo.url), {
        headers: { 'x-client-id': demo.clientId, 'x-client-secret': demo.clientSecret },
      }).then(async (answer) => {
        response.writeHead(answer.status, { 'content-type': 'application/json' });
        response.end((await answer.text()).replaceAll('Training for Martinez Ltda', 'Renamed lead'));
      });
      return true;
    });
    const harness = await startHarness({
      upstream: demo,
      credentials: { V4_API_URL: proxy.url },
      env: { LEADGRAPH_CACHE_TTL_LEADS_SECONDS: '1', LEADGRAPH_CACHE_TTL_REFERENCE_SECONDS: '1' },
    });
    try {
      const query = '{ lead(kommoId: "20000001") { name } }';
      const before = await post(harness, query);
      expect(json(before).data).toEqual({ lead: { name: 'Training for Martinez Ltda' } });
      const etag = header(before, 'etag');
      expect(etag).toMatch(ETAG);
      expect((await post(harness, query, { 'if-none-match': etag })).status).toBe(304);
      renamed = true;
      // The gateway sees the new name once its entries (1 s) have expired: at most 4 s of polling.
      let after = await post(harness, query, { 'if-none-match': etag });
      for (let attempt = 0; attempt < 40 && after.status !== 200; attempt += 1) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        after = await post(harness, query, { 'if-none-match': etag });
      }
      expect(after.status).toBe(200);
      expect(json(after).data).toEqual({ lead: { name: 'Renamed lead' } });
      // The refilled entry is served (not executed again) with the old ETag too: still the new answer.
      const again = await post(harness, query, { 'if-none-match': etag });
      expect(again.status).toBe(200);
      expect(header(again, 'etag')).not.toBe(etag);
      expect((await post(harness, query, { 'if-none-match': header(again, 'etag') })).status).toBe(304);
    } finally {
      await harness.close();
      await proxy.close();
      await demo.close();
    }
  });
});

describe('HTTP caching in multi-tenant mode', () => {
  let demo: TestUpstream;
  let other: ReturnType<TestUpstream['addTenant']>;
  let harness: Harness;
  const headersOf = (tenant: { clientId: string; clientSecret: string; workspaceId: string }) => ({
    'x-client-id': tenant.clientId,
    'x-client-secret': tenant.clientSecret,
    'x-workspace-id': tenant.workspaceId,
  });
  const TENANT_VARY = 'Accept, Accept-Encoding, x-client-id, x-client-secret, x-workspace-id';

  beforeAll(async () => {
    demo = await startTestUpstream({ leads: 40, seed: 1 });
    other = demo.addTenant({ leads: 40, seed: 2 });
    harness = await startHarness({
      upstream: demo,
      credentials: { V4_CLIENT_ID: '', V4_CLIENT_SECRET: '', V4_WORKSPACE_ID: '' },
      env: { ...CACHED, LEADGRAPH_CREDENTIALS_FROM_REQUEST: 'true', LEADGRAPH_CORS_ORIGINS: 'http://localhost:5173' },
    });
  });
  afterAll(async () => {
    await harness.close();
    await demo.close();
  });

  it('varies on every header that selects the tenant, and on Origin (merged, not replaced)', async () => {
    const response = await post(harness, PAGE, headersOf(demo));
    expect(header(response, 'vary')).toBe(TENANT_VARY);
    const withOrigin = await post(harness, PAGE, { ...headersOf(demo), origin: 'http://localhost:5173' });
    expect(header(withOrigin, 'vary')).toBe(`Origin, ${TENANT_VARY}`);
    expect(header(withOrigin, 'access-control-allow-origin')).toBe('http://localhost:5173');
    expect(header(withOrigin, 'cache-control')).toMatch(/^private, max-age=\d+$/);
  });

  it("a second tenant never gets the first one's 304, by POST or GET; the first one does", async () => {
    const first = await post(harness, PAGE, headersOf(demo));
    const etag = header(first, 'etag');
    expect(etag).toMatch(ETAG);
    for (const send of [post, get]) {
      const second = await send(harness, PAGE, { ...headersOf(other), 'if-none-match': etag });
      expect(second.status).toBe(200);
      expect(header(second, 'etag')).toMatch(ETAG);
      expect(header(second, 'etag')).not.toBe(etag);
      expect(json(second).data).not.toEqual(json(first).data);
      expect(header(second, 'cache-control')).toMatch(/^private, max-age=\d+$/);
      expect((await send(harness, PAGE, { ...headersOf(demo), 'if-none-match': etag })).status).toBe(304);
      // The second tenant's own ETag is its own 304.
      expect((await send(harness, PAGE, { ...headersOf(other), 'if-none-match': header(second, 'etag') })).status).toBe(304);
    }
  });

  it('a wrong secret or no credentials with a valid ETag are refused as usual, never a 304, and say no-store', async () => {
    const etag = header(await post(harness, PAGE, headersOf(demo)), 'etag');
    const wrong = await post(harness, PAGE, { ...headersOf(demo), 'x-client-secret': 'not-the-secret', 'if-none-match': etag });
    expect(wrong.status).toBe(401); // the request's own credentials failed upstream
    expect(json(wrong).errors?.[0]?.extensions?.code).toBe('UPSTREAM_UNAUTHORIZED');
    expect(header(wrong, 'cache-control')).toBe('no-store');
    const none = await post(harness, PAGE, { 'if-none-match': etag });
    expect(none.status).toBe(401);
    expect(header(none, 'cache-control')).toBe('no-store');
  });
});

describe('compression', () => {
  let harness: Harness;
  beforeAll(async () => {
    harness = await startHarness({ env: CACHED });
  });
  afterAll(() => harness.close());

  it('sends br or gzip, as accepted, for answers of 1 KB or more; the bytes inflate to the identity body', async () => {
    const identity = await post(harness, PAGE);
    expect(identity.headers['content-encoding']).toBeUndefined();
    expect(identity.body.length).toBeGreaterThan(1024);
    const br = await post(harness, PAGE, { 'accept-encoding': 'gzip, deflate, br' });
    expect(header(br, 'content-encoding')).toBe('br');
    expect(brotliDecompressSync(br.body).equals(identity.body)).toBe(true);
    expect(br.body.length).toBeLessThan(identity.body.length / 3);
    const gzip = await post(harness, PAGE, { 'accept-encoding': 'br;q=0, gzip' });
    expect(header(gzip, 'content-encoding')).toBe('gzip');
    expect(gunzipSync(gzip.body).equals(identity.body)).toBe(true);
    // Compressed once per cached answer: later hits send the same bytes, with the same validators.
    const again = await post(harness, PAGE, { 'accept-encoding': 'gzip, deflate, br' });
    expect(again.body.equals(br.body)).toBe(true);
    expect(header(again, 'etag')).toBe(header(identity, 'etag'));
    expect(header(again, 'content-length')).toBe(String(br.body.length));
  });

  it('sends small answers, and answers to clients that accept neither, as they are', async () => {
    const small = await post(harness, '{ pipelines { kommoId } }', { 'accept-encoding': 'br' });
    expect(small.body.length).toBeLessThan(1024);
    expect(small.headers['content-encoding']).toBeUndefined();
    const none = await post(harness, PAGE, { 'accept-encoding': 'identity, deflate' });
    expect(none.headers['content-encoding']).toBeUndefined();
  });

  it('LEADGRAPH_COMPRESSION=false sends every answer as it is, and does not vary on Accept-Encoding', async () => {
    const plain = await startHarness({ upstream: harness.demo, env: { ...CACHED, LEADGRAPH_COMPRESSION: 'false' } });
    try {
      const response = await post(plain, PAGE, { 'accept-encoding': 'gzip, br' });
      expect(response.headers['content-encoding']).toBeUndefined();
      expect(header(response, 'vary')).toBe('Accept');
    } finally {
      await plain.close();
    }
  });

  it('reads Accept-Encoding as RFC 9110 says: brotli first, q=0 excluded, * for codings not named', () => {
    expect(negotiate('gzip, deflate, br, zstd')).toBe('br');
    expect(negotiate('gzip')).toBe('gzip');
    expect(negotiate('br;q=0, gzip;q=0.5')).toBe('gzip');
    expect(negotiate('br;q=0, gzip;q=0')).toBeNull();
    expect(negotiate('*')).toBe('br');
    expect(negotiate('br;q=0, *')).toBe('gzip');
    expect(negotiate('identity')).toBeNull();
    expect(negotiate('')).toBeNull();
    expect(negotiate(null)).toBeNull();
  });
});
