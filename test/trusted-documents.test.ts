import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config.js';
import { type Harness, startHarness } from './support/harness.js';
import { rawRequest } from './support/net.js';
import { runToExit } from './support/process.js';

const PAGE = 'query Page($first: Int) { leads(first: $first) { edges { node { kommoId name } } } }';
const PIPELINES = 'query Pipelines { pipelines { kommoId name } }';
const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');
const TOKEN = 'team-graphiql-token-5f0c9a7e';

type Body = { data?: Record<string, unknown>; errors?: { message: string; extensions?: { code?: string } }[] };

const folder = mkdtempSync(join(tmpdir(), 'leadgraph-manifests-'));
const file = (name: string, content: string): string => {
  const path = join(folder, name);
  writeFileSync(path, content);
  return path;
};
/** As graphql-codegen's client preset writes it: sha256 -> document. */
const codegenManifest = file('persisted-documents.json', JSON.stringify({ [sha256(PAGE)]: PAGE }));
/** As Apollo's generate-persisted-query-manifest writes it. */
const apolloManifest = file(
  'apollo.json',
  JSON.stringify({
    format: 'apollo-persisted-query-manifest',
    version: 1,
    operations: [{ id: 'pipelines-v1', body: PIPELINES, name: 'Pipelines', type: 'query' }],
  }),
);
const MANIFESTS = `${codegenManifest}, ${apolloManifest}`;

afterAll(() => rmSync(folder, { recursive: true, force: true }));

describe('trusted document manifests at start', () => {
  const configError = (env: Record<string, string>): ConfigError => {
    try {
      loadConfig(env);
    } catch (error) {
      if (error instanceof ConfigError) return error;
      throw error;
    }
    throw new Error('no ConfigError');
  };

  it('reads one or more manifests, in both shapes, merged', () => {
    const config = loadConfig({ LEADGRAPH_PERSISTED_DOCUMENTS: MANIFESTS });
    expect(config.persistedDocuments?.files).toEqual([codegenManifest, apolloManifest]);
    expect([...(config.persistedDocuments?.documents.keys() ?? [])]).toEqual([sha256(PAGE), 'pipelines-v1']);
  });

  const malformed: [string, string, RegExp][] = [
    ['not-json.json', '{"abc": ', /is not JSON/],
    ['array.json', '["query { __typename }"]', /is not a manifest/],
    ['empty.json', '{}', /holds no document/],
    ['number.json', '{"abc": 42}', /the document of "abc" is not a string/],
    ['broken.json', '{"abc": "query { leads("}', /the document of "abc" does not parse/],
    ['bad-id.json', '{"a b": "{ __typename }"}', /the id "a b" is not an id/],
  ];
  for (const [name, content, message] of malformed) {
    it(`refuses ${name} at start, naming the file`, () => {
      const path = file(name, content);
      const error = configError({ LEADGRAPH_PERSISTED_DOCUMENTS: `${codegenManifest},${path}` });
      expect(error.variable).toBe('LEADGRAPH_PERSISTED_DOCUMENTS');
      expect(error.message).toContain(path);
      expect(error.message).toMatch(message);
    });
  }

  it('refuses a missing file, one id for two documents, enforcement without manifests, and a token without enforcement', () => {
    expect(configError({ LEADGRAPH_PERSISTED_DOCUMENTS: join(folder, 'nope.json') }).message).toMatch(
      /nope\.json: cannot be read \(ENOENT\)/,
    );
    const clash = file('clash.json', JSON.stringify({ [sha256(PAGE)]: PIPELINES }));
    expect(configError({ LEADGRAPH_PERSISTED_DOCUMENTS: `${codegenManifest},${clash}` }).message).toMatch(
      /clash\.json: the id "[0-9a-f]{64}" names another document in .*persisted-documents\.json/,
    );
    expect(configError({ LEADGRAPH_TRUSTED_DOCUMENTS_ONLY: 'true' }).variable).toBe('LEADGRAPH_TRUSTED_DOCUMENTS_ONLY');
    expect(configError({ LEADGRAPH_PERSISTED_DOCUMENTS: MANIFESTS, LEADGRAPH_ANY_DOCUMENT_TOKEN: TOKEN }).variable).toBe(
      'LEADGRAPH_ANY_DOCUMENT_TOKEN',
    );
    const short = configError({
      LEADGRAPH_PERSISTED_DOCUMENTS: MANIFESTS,
      LEADGRAPH_TRUSTED_DOCUMENTS_ONLY: 'true',
      LEADGRAPH_ANY_DOCUMENT_TOKEN: 'short',
    });
    expect(short.message).toMatch(/16 to 512/);
    expect(short.message).not.toContain('short');
  });

  it('the process exits at start with one line naming the malformed manifest', async () => {
    const path = file('start.json', '{"abc": ');
    const { code, stderr } = await runToExit(process.execPath, ['--import', 'tsx', 'src/main.ts'], { LEADGRAPH_PERSISTED_DOCUMENTS: path });
    expect(code).toBe(2);
    const lines = stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(`leadgraph: invalid configuration: LEADGRAPH_PERSISTED_DOCUMENTS: ${path}: is not JSON`);
  });
});

describe('trusted documents, not enforced', () => {
  let harness: Harness;
  beforeAll(async () => {
    harness = await startHarness({ demo: { leads: 30 }, env: { LEADGRAPH_PERSISTED_DOCUMENTS: MANIFESTS } });
  });
  afterAll(() => harness.close());

  it('runs a document by its id, by POST (documentId, sha256: prefix, Apollo extension) and by GET', async () => {
    const id = sha256(PAGE);
    const expected = (await (await harness.post({ query: PAGE, variables: { first: 3 } })).json()) as Body;
    expect(expected.errors).toBeUndefined();
    const answers: Body[] = [];
    for (const body of [
      { documentId: id, variables: { first: 3 } },
      { documentId: `sha256:${id}`, variables: { first: 3 } },
      { extensions: { persistedQuery: { version: 1, sha256Hash: id } }, variables: { first: 3 } },
    ]) {
      const response = await harness.post(body);
      expect(response.status).toBe(200);
      answers.push((await response.json()) as Body);
    }
    const variables = encodeURIComponent(JSON.stringify({ first: 3 }));
    for (const query of [
      `documentId=${id}`,
      `extensions=${encodeURIComponent(JSON.stringify({ persistedQuery: { version: 1, sha256Hash: id } }))}`,
    ]) {
      const response = await fetch(`${harness.url}?${query}&variables=${variables}`, {
        headers: { accept: 'application/graphql-response+json', 'x-graphql-yoga-csrf': '1' },
      });
      expect(response.status).toBe(200);
      answers.push((await response.json()) as Body);
    }
    expect(answers).toEqual(Array.from({ length: 5 }, () => expected));
    const byApolloId = (await (await harness.post({ documentId: 'pipelines-v1' })).json()) as Body;
    expect((byApolloId.data?.pipelines as unknown[] | undefined)?.length).toBeGreaterThan(0);
  });

  it('a GET by id is still a GET a page on another site could send: without a CSRF header it runs nothing', async () => {
    const response = await fetch(`${harness.url}?documentId=${sha256(PAGE)}`, { headers: { accept: 'application/json' } });
    expect(response.status).toBe(403);
    expect(((await response.json()) as Body).errors?.[0]?.extensions?.code).toBe('CSRF_HEADER_REQUIRED');
  });

  it('an unknown id is PERSISTED_QUERY_NOT_FOUND (HTTP 400), by POST and GET; any other document still runs', async () => {
    const post = await harness.post({ documentId: sha256('query Other { __typename }') });
    expect(post.status).toBe(400);
    const body = (await post.json()) as Body;
    expect(body.errors?.[0]?.extensions?.code).toBe('PERSISTED_QUERY_NOT_FOUND');
    expect(body.errors?.[0]?.message).toMatch(/No trusted document has the id "[0-9a-f]{64}"/);
    const get = await fetch(`${harness.url}?documentId=unknown-id`, {
      headers: { accept: 'application/json', 'x-graphql-yoga-csrf': '1' },
    });
    expect(get.status).toBe(400);
    expect(((await get.json()) as Body).errors?.[0]?.extensions?.code).toBe('PERSISTED_QUERY_NOT_FOUND');
    expect(((await (await harness.post({ query: '{ pipelines { name } }' })).json()) as Body).errors).toBeUndefined();
  });

  it('an answer by id is cached like the same query: the same ETag, and its 304 by GET', async () => {
    const cached = await startHarness({
      upstream: harness.demo,
      env: {
        LEADGRAPH_PERSISTED_DOCUMENTS: MANIFESTS,
        LEADGRAPH_CACHE_TTL_LEADS_SECONDS: '600',
        LEADGRAPH_CACHE_TTL_REFERENCE_SECONDS: '600',
      },
    });
    try {
      const byQuery = await cached.post({ query: PIPELINES });
      const etag = byQuery.headers.get('etag') as string;
      expect(etag).toMatch(/^W\//);
      const url = `${cached.url}?documentId=pipelines-v1`;
      const headers = { accept: 'application/graphql-response+json', 'x-graphql-yoga-csrf': '1' };
      expect((await rawRequest(url, { headers })).headers.etag).toBe(etag);
      const revalidated = await rawRequest(url, { headers: { ...headers, 'if-none-match': etag } });
      expect(revalidated.status).toBe(304);
      expect(revalidated.body.length).toBe(0);
    } finally {
      await cached.close();
    }
  });
});

describe('trusted documents only', () => {
  let harness: Harness;
  beforeAll(async () => {
    harness = await startHarness({
      demo: { leads: 30 },
      env: { LEADGRAPH_PERSISTED_DOCUMENTS: MANIFESTS, LEADGRAPH_TRUSTED_DOCUMENTS_ONLY: 'true', LEADGRAPH_ANY_DOCUMENT_TOKEN: TOKEN },
    });
  });
  afterAll(() => harness.close());

  const metric = async (pattern: RegExp): Promise<number> => {
    const text = await (await fetch(harness.url.replace('/graphql', '/metrics'))).text();
    return Number(pattern.exec(text)?.[1] ?? 0);
  };

  it('refuses any other document with PERSISTED_QUERY_ONLY (HTTP 400), by POST and GET, before anything runs upstream', async () => {
    harness.demo.reset();
    const post = await harness.post({ query: PAGE, variables: { first: 3 } });
    expect(post.status).toBe(400);
    const body = (await post.json()) as Body;
    expect(body.errors?.[0]?.extensions?.code).toBe('PERSISTED_QUERY_ONLY');
    expect(body.data).toBeUndefined();
    const get = await fetch(`${harness.url}?query=${encodeURIComponent('{ pipelines { name } }')}`, {
      headers: { accept: 'application/json', 'x-graphql-yoga-csrf': '1' },
    });
    expect(get.status).toBe(400);
    expect(((await get.json()) as Body).errors?.[0]?.extensions?.code).toBe('PERSISTED_QUERY_ONLY');
    // A document with its id alongside is still a document sent.
    const both = await harness.post({ query: PAGE, documentId: sha256(PAGE) });
    expect(((await both.json()) as Body).errors?.[0]?.extensions?.code).toBe('PERSISTED_QUERY_ONLY');
    expect(harness.demo.count()).toBe(0);
  });

  it('runs the documents of its manifests by id, by POST and GET', async () => {
    const post = (await (await harness.post({ documentId: sha256(PAGE), variables: { first: 2 } })).json()) as Body;
    expect((post.data?.leads as { edges: unknown[] } | undefined)?.edges).toHaveLength(2);
    const get = await fetch(`${harness.url}?documentId=pipelines-v1`, {
      headers: { accept: 'application/json', 'x-graphql-yoga-csrf': '1' },
    });
    expect(get.status).toBe(200);
    const byGet = (await get.json()) as Body;
    expect(byGet.errors).toBeUndefined();
    expect((byGet.data?.pipelines as unknown[] | undefined)?.length).toBeGreaterThan(0);
    expect(((await (await harness.post({ documentId: 'nope' })).json()) as Body).errors?.[0]?.extensions?.code).toBe(
      'PERSISTED_QUERY_NOT_FOUND',
    );
  });

  it(`GraphiQL: the page loads; its queries run only with ${'x-leadgraph-any-document'} holding the token, which is never logged`, async () => {
    const page = await fetch(harness.url, { headers: { accept: 'text/html' } });
    expect(page.status).toBe(200);
    const introspection = { query: '{ __schema { queryType { name } } }' };
    expect(((await (await harness.post(introspection)).json()) as Body).errors?.[0]?.extensions?.code).toBe('PERSISTED_QUERY_ONLY');
    const wrong = await harness.post(introspection, { 'x-leadgraph-any-document': `${TOKEN}x` });
    expect(((await wrong.json()) as Body).errors?.[0]?.extensions?.code).toBe('PERSISTED_QUERY_ONLY');
    const allowed = await harness.post(introspection, { 'x-leadgraph-any-document': TOKEN, 'x-request-id': 'any-document-1' });
    expect(((await allowed.json()) as Body).data).toEqual({ __schema: { queryType: { name: 'Query' } } });
    expect(allowed.headers.get('vary')).toContain('x-leadgraph-any-document');
    // The requests were logged (the refused ones at least), and the token is in no line.
    expect(harness.logs.some((line) => line.includes('PERSISTED_QUERY_ONLY'))).toBe(true);
    expect(harness.logs.join('')).not.toContain(TOKEN);
  });

  it('counts requests per document id, and refusals by reason, in /metrics', async () => {
    const ran = await metric(new RegExp(`leadgraph_trusted_document_requests_total\\{document_id="${sha256(PAGE)}"\\} (\\d+)`));
    await harness.post({ documentId: sha256(PAGE), variables: { first: 1 } });
    expect(await metric(new RegExp(`leadgraph_trusted_document_requests_total\\{document_id="${sha256(PAGE)}"\\} (\\d+)`))).toBe(ran + 1);
    const notFound = await metric(/leadgraph_trusted_document_refusals_total\{reason="not_found"\} (\d+)/);
    const notTrusted = await metric(/leadgraph_trusted_document_refusals_total\{reason="not_trusted"\} (\d+)/);
    await harness.post({ documentId: 'nope' });
    await harness.post({ query: '{ __typename }' });
    expect(await metric(/leadgraph_trusted_document_refusals_total\{reason="not_found"\} (\d+)/)).toBe(notFound + 1);
    expect(await metric(/leadgraph_trusted_document_refusals_total\{reason="not_trusted"\} (\d+)/)).toBe(notTrusted + 1);
  });
});
