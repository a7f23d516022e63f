import { auditServer } from 'graphql-http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, startHarness } from './support/harness.js';

describe('the HTTP server', () => {
  let harness: Harness;
  beforeAll(async () => {
    harness = await startHarness({ demo: { leads: 50 } });
  });
  afterAll(() => harness.close());

  it('passes the GraphQL-over-HTTP server audits (graphql-http)', async () => {
    const results = await auditServer({ url: harness.url, fetchFn: fetch });
    const failures = results.flatMap((result) => (result.status === 'error' ? [`${result.id} ${result.name}: ${result.reason}`] : []));
    expect(failures).toEqual([]);
    expect(results.length).toBeGreaterThan(30);
  });

  it('serves GraphiQL from the installed package, with no CDN, opening on the example query', async () => {
    const response = await fetch(harness.url, { headers: { accept: 'text/html' } });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/text\/html/);
    const html = await response.text();
    expect(html).toContain('<title>leadgraph</title>');
    expect(html).not.toMatch(/<(script|link)[^>]+(src|href)=["']https?:/i);
    expect(html).toContain('FirstLeads');
    // A small page: the bundle comes from the gateway as assets (test/graphiql.test.ts).
    expect(html.length).toBeLessThan(4_000);
    expect(html).toMatch(/<script src="\/graphiql\/[0-9a-f]{16}\/graphiql\.js"><\/script>/);
  });

  it('sends a browser at / to GraphiQL and answers /health', async () => {
    const root = await fetch(harness.url.replace('/graphql', '/'), { redirect: 'manual' });
    expect(root.status).toBe(302);
    expect(root.headers.get('location')).toBe('/graphql');
    const health = await fetch(harness.url.replace('/graphql', '/health'));
    expect(health.status).toBe(200);
  });

  it('answers readiness at /ready only, not at every URL that ends in it', async () => {
    expect((await fetch(harness.url.replace('/graphql', '/ready'))).status).toBe(200);
    expect((await fetch(harness.url.replace('/graphql', '/x/ready'))).status).toBe(404);
    const get = await fetch(`${harness.url}?query=${encodeURIComponent('{ pipelines { name } }')}&next=/ready`, {
      headers: { accept: 'application/json', 'x-graphql-yoga-csrf': '1' },
    });
    expect(((await get.json()) as { data: { pipelines: unknown[] } }).data.pipelines).toHaveLength(4);
  });

  it('refuses wrong methods and content types with a GraphQL error, not a crash', async () => {
    const put = await fetch(harness.url, { method: 'PUT', body: '{}' });
    expect(put.status).toBe(405);
    const xml = await fetch(harness.url, { method: 'POST', headers: { 'content-type': 'application/xml' }, body: '<query/>' });
    expect(xml.status).toBe(415);
    const broken = await harness.post('{"query": ');
    expect(broken.status).toBe(400);
    const body = (await broken.json()) as { errors: { message: string }[] };
    expect(body.errors[0]?.message).toBeTruthy();
    const mutation = await harness.post({ query: 'mutation { x }' });
    const refused = (await mutation.json()) as { data: null; errors: { message: string }[] };
    expect(refused.errors[0]?.message).toMatch(/not configured to execute mutation/);
  });

  it('answers queries sent over GET with a CSRF header', async () => {
    for (const header of ['x-graphql-yoga-csrf', 'apollo-require-preflight', 'x-apollo-operation-name']) {
      const get = await fetch(`${harness.url}?query=${encodeURIComponent('{ pipelines { name } }')}`, {
        headers: { accept: 'application/json', [header]: '1' },
      });
      expect(get.status).toBe(200);
      expect(((await get.json()) as { data: { pipelines: unknown[] } }).data.pipelines).toHaveLength(4);
    }
  });

  it('refuses what a page on another site could send without a preflight (GET, form post, multipart, text/plain) before it runs', async () => {
    harness.demo.reset();
    const query = '{ leads(first: 1) { edges { cursor } } }';
    const attempts = [
      fetch(`${harness.url}?query=${encodeURIComponent(query)}`, { headers: { origin: 'https://evil.example' } }),
      fetch(harness.url, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: `query=${encodeURIComponent(query)}`,
      }),
      fetch(harness.url, {
        method: 'POST',
        body: (() => {
          const form = new FormData();
          form.set('operations', JSON.stringify({ query }));
          form.set('map', '{}');
          return form;
        })(),
      }),
      fetch(harness.url, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: JSON.stringify({ query }) }),
    ];
    for (const response of await Promise.all(attempts)) {
      expect(response.status).toBe(403);
      const body = (await response.json()) as { errors: { message: string; extensions: Record<string, unknown> }[] };
      expect(body.errors[0]?.extensions).toMatchObject({
        code: 'CSRF_HEADER_REQUIRED',
        acceptedHeaders: expect.arrayContaining(['x-graphql-yoga-csrf']),
      });
    }
    expect(harness.demo.count()).toBe(0);
    // The same form post from a script, with the header, runs.
    const scripted = await fetch(harness.url, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-graphql-yoga-csrf': '1', accept: 'application/json' },
      body: `query=${encodeURIComponent(query)}`,
    });
    expect(scripted.status).toBe(200);
  });
});
