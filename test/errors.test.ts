import { createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LeadsPageDocument, LeadsWithPeopleDocument, OneLeadDocument } from './generated/graphql.js';
import { type Harness, startHarness } from './support/harness.js';
import { startRudeUpstream } from './support/rude-upstream.js';
import { startTestUpstream, type TestUpstream } from './support/test-upstream.js';

interface Body {
  data?: unknown;
  errors?: { message: string; path?: string[]; extensions?: { code?: string } }[];
}

async function query(harness: Harness, text: string, variables?: unknown): Promise<Body> {
  const response = await harness.post({ query: text, variables });
  return (await response.json()) as Body;
}

describe('bad input gets a clear BAD_USER_INPUT and nothing else', () => {
  let harness: Harness;
  beforeAll(async () => {
    harness = await startHarness({ demo: { leads: 200 } });
  });
  afterAll(() => harness.close());

  const cases: [string, string, RegExp][] = [
    [
      'a cursor that does not decode',
      '{ leads(first: 5, after: "not-a-cursor") { edges { cursor } } }',
      /"after" is not a cursor of this API/,
    ],
    [
      'a base64 cursor of something else',
      `{ leads(first: 5, after: "${Buffer.from('lg1:5:1:abcdefabcdef').toString('base64url')}") { edges { cursor } } }`,
      /not a cursor/,
    ],
    ['first above the maximum', '{ leads(first: 251) { edges { cursor } } }', /"first" must be a whole number from 0 to 250, got 251/],
    ['a negative first', '{ leads(first: -1) { edges { cursor } } }', /"first" must be a whole number from 0 to 250/],
    ['a negative last', '{ leads(last: -3, before: null) { edges { cursor } } }', /"last" must be a whole number from 0 to 250/],
    ['first and last together', '{ leads(first: 5, last: 5) { edges { cursor } } }', /not both/],
    [
      'a range whose from is after its to',
      '{ leads(filter: { createdAt: { from: "2026-02-01", to: "2026-01-01" } }) { edges { cursor } } }',
      /"from" .* is after "to"/,
    ],
    [
      'an invalid DateTime literal',
      '{ leads(filter: { createdAt: { from: "yesterday" } }) { edges { cursor } } }',
      /DateTime must be an ISO-8601 date-time/,
    ],
    [
      'a date-time without a zone',
      '{ leads(filter: { createdAt: { from: "2026-01-01T10:00:00" } }) { edges { cursor } } }',
      /DateTime must be/,
    ],
    ['a Kommo id that is not a number', '{ lead(kommoId: "abc") { name } }', /"kommoId" must be a Kommo id/],
    [
      'a filter id that is not a number',
      '{ leads(filter: { pipelineId: "1; drop" }) { edges { cursor } } }',
      /"filter.pipelineId" must be a Kommo id/,
    ],
    ['an empty tag name', '{ leads(filter: { tagName: "  " }) { edges { cursor } } }', /"filter.tagName" must be 1 to 200 characters/],
    ['a global id that is not ours', '{ node(id: "bm9wZQ==") { id } }', /is not an id of this API/],
    [
      'an impossible date (30 February)',
      '{ leads(filter: { createdAt: { from: "2026-02-30" } }) { edges { cursor } } }',
      /DateTime must be/,
    ],
    ['an impossible hour', '{ leads(filter: { updatedAt: { to: "2026-05-01T24:30:00Z" } }) { edges { cursor } } }', /DateTime must be/],
    [
      'a nested filter with a bad range, even when it contradicts its parent',
      '{ pipeline(kommoId: "7000001") { leads(filter: { pipelineId: "7000002", createdAt: { from: "2026-02-01", to: "2026-01-01" } }) { edges { cursor } } } }',
      /"filter.createdAt": "from" .* is after "to"/,
    ],
    [
      'a nested filter with a blank tag name, even when it contradicts its parent',
      '{ users { leads(filter: { responsibleUserId: "1", tagName: " " }) { edges { cursor } } } }',
      /"filter.tagName" must be 1 to 200 characters/,
    ],
  ];

  for (const [name, text, message] of cases) {
    it(`rejects ${name}`, async () => {
      harness.demo.reset();
      const body = await query(harness, text);
      expect(body.errors).toHaveLength(1);
      expect(body.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
      expect(body.errors?.[0]?.message).toMatch(message);
      expect(harness.demo.count('leads')).toBe(0);
    });
  }

  const invalidDocuments: [string, string, RegExp][] = [
    [
      'an unknown filter field',
      '{ leads(filter: { colour: "red" }) { edges { cursor } } }',
      /Field "colour" is not defined by type "LeadFilter"/,
    ],
    ['a page size that is not an integer', '{ leads(first: 2.5) { edges { cursor } } }', /Int cannot represent non-integer value: 2.5/],
    ['a page size beyond 32 bits', '{ leads(first: 99999999999) { edges { cursor } } }', /Int cannot represent non 32-bit signed integer/],
    ['a string where a number belongs', '{ leads(first: "ten") { edges { cursor } } }', /Int cannot represent non-integer value: "ten"/],
    ['an unknown field', '{ leads { edges { node { colour } } } }', /Cannot query field "colour" on type "Lead"/],
  ];
  for (const [name, text, message] of invalidDocuments) {
    it(`refuses ${name} as an invalid document (HTTP 400), before any upstream call`, async () => {
      harness.demo.reset();
      const response = await harness.post({ query: text });
      expect(response.status).toBe(400);
      const body = (await response.json()) as Body;
      expect(body.errors?.[0]?.extensions?.code).toBe('GRAPHQL_VALIDATION_FAILED');
      expect(body.errors?.[0]?.message).toMatch(message);
      expect(harness.demo.count()).toBe(0);
    });
  }

  const LEADS = 'query($f: LeadFilter) { leads(filter: $f) { edges { cursor } } }';
  const unsafeBodies: [string, string, RegExp][] = [
    [
      'variables nested 3,000 levels deep',
      `{"query":${JSON.stringify(LEADS)},"variables":{"f":{"tagName":${'['.repeat(3000)}1${']'.repeat(3000)}}}}`,
      /nested more than 64 levels deep/,
    ],
    [
      'variables nested 20,000 levels deep (the cache key and the cost rule would overflow the stack)',
      `{"query":${JSON.stringify(LEADS)},"variables":{"f":${'['.repeat(20000)}1${']'.repeat(20000)}}}`,
      /nested more than 64 levels deep/,
    ],
    [
      'a list literal nested 3,000 levels deep',
      JSON.stringify({ query: `{ nodes(ids: ${'['.repeat(3000)}"x"${']'.repeat(3000)}) { id } }` }),
      /nests brackets more than 64 levels/,
    ],
    [
      'a lone surrogate in a variable',
      `{"query":${JSON.stringify(LEADS)},"variables":{"f":{"tagName":"vip\\ud800"}}}`,
      /"f.tagName" holds a lone UTF-16 surrogate/,
    ],
    [
      'a lone surrogate in the query',
      '{"query":"{ leads(filter: {tagName: \\"\\udc00\\"}) { edges { cursor } } }"}',
      /query holds a lone UTF-16 surrogate/,
    ],
    [
      'a lone surrogate in a variable name',
      `{"query":${JSON.stringify(LEADS)},"variables":{"\\ud800":1}}`,
      /variable name holds a lone UTF-16 surrogate/,
    ],
  ];
  for (const [name, body, message] of unsafeBodies) {
    it(`refuses ${name} as BAD_USER_INPUT (HTTP 400), never a 500, before any upstream call`, async () => {
      harness.demo.reset();
      const response = await harness.post(body);
      expect(response.status).toBe(400);
      const answer = (await response.json()) as Body;
      expect(answer.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
      expect(answer.errors?.[0]?.message).toMatch(message);
      expect(harness.demo.count()).toBe(0);
    });
  }

  it('gives a variable that does not coerce the code BAD_USER_INPUT (HTTP 400), logged as a client error', async () => {
    const before = harness.logs.length;
    const response = await harness.post({ query: 'query($n: Int) { leads(first: $n) { edges { cursor } } }', variables: { n: 'ten' } });
    expect(response.status).toBe(400);
    const body = (await response.json()) as Body;
    expect(body.errors?.[0]).toMatchObject({
      message: expect.stringMatching(/^Variable "\$n" got invalid value "ten"/),
      extensions: { code: 'BAD_USER_INPUT' },
    });
    expect(harness.logs.slice(before).some((line) => JSON.parse(line).level >= 50)).toBe(false);
  });

  it('rejects an invalid DateTime in variables the same way', async () => {
    const body = await query(harness, 'query($f: LeadFilter) { leads(filter: $f) { edges { cursor } } }', {
      f: { updatedAt: { to: '31/12/2026' } },
    });
    expect(body.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    expect(body.errors?.[0]?.message).toMatch(/DateTime must be/);
  });

  it('refuses a cursor used with another filter instead of returning a wrong page', async () => {
    const first = await harness.execute(LeadsPageDocument, { first: 3, filter: { pipelineId: '7000001' } });
    const cursor = first.data?.leads.pageInfo.endCursor as string;
    const other = await harness.execute(LeadsPageDocument, { first: 3, after: cursor, filter: { pipelineId: '7000002' } });
    expect(other.data).toBeNull();
    expect(other.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    expect(other.errors?.[0]?.message).toMatch(/cursor of a different filter/);
    const unfiltered = await harness.execute(LeadsPageDocument, { first: 3, after: cursor });
    expect(unfiltered.errors?.[0]?.message).toMatch(/cursor of a different filter/);
    const same = await harness.execute(LeadsPageDocument, { first: 3, after: cursor, filter: { pipelineId: '7000001' } });
    expect(same.errors).toBeUndefined();
  });

  it('answers an entity representation with an impossible id as a missing entity, not a failed batch', async () => {
    const body = await query(
      harness,
      'query($r: [_Any!]!) { _entities(representations: $r) { ... on Pipeline { name } ... on Lead { name } } }',
      {
        r: [
          { __typename: 'Pipeline', kommoId: 'abc' },
          { __typename: 'Pipeline', kommoId: '7000001' },
          { __typename: 'Lead', kommoId: '1' },
        ],
      },
    );
    expect(body.errors).toBeUndefined();
    expect(body.data).toEqual({ _entities: [null, { name: 'Sales' }, null] });
  });

  it('accepts first: 0 as an empty page that still says whether leads exist', async () => {
    const body = await harness.execute(LeadsPageDocument, { first: 0 });
    expect(body.data?.leads.edges).toEqual([]);
    expect(body.data?.leads.pageInfo.hasNextPage).toBe(true);
  });
});

describe('upstream failures reach the client as coded errors, without secrets, and the gateway keeps serving', () => {
  let demo: TestUpstream;
  beforeAll(async () => {
    demo = await startTestUpstream({ leads: 100 });
  });
  afterAll(() => demo.close());

  it('a wrong secret is UPSTREAM_UNAUTHORIZED and neither secret appears in the response or the logs', async () => {
    const wrong = 'wrong-secret-0123456789abcdef';
    const harness = await startHarness({ upstream: demo, credentials: { V4_CLIENT_SECRET: wrong } });
    try {
      const response = await harness.post({ query: '{ leads(first: 2) { edges { cursor } } }' });
      const text = await response.text();
      const body = JSON.parse(text) as Body;
      expect(body.errors?.[0]?.extensions?.code).toBe('UPSTREAM_UNAUTHORIZED');
      expect(body.errors?.[0]?.message).toMatch(/V4 API rejected the credentials \(401\): Invalid client credentials/);
      for (const secret of [wrong, demo.clientSecret]) {
        expect(text).not.toContain(secret);
        expect(harness.logs.join('\n')).not.toContain(secret);
      }
    } finally {
      await harness.close();
    }
  });

  it('a workspace the credentials may not read is UPSTREAM_FORBIDDEN', async () => {
    const harness = await startHarness({ upstream: demo, credentials: { V4_WORKSPACE_ID: 'another-workspace' } });
    try {
      const body = await query(harness, '{ pipelines { name } }');
      expect(body.errors?.[0]?.extensions?.code).toBe('UPSTREAM_FORBIDDEN');
    } finally {
      await harness.close();
    }
  });

  it('an upstream that is down is UPSTREAM_UNAVAILABLE', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as { port: number }).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const harness = await startHarness({ upstream: demo, credentials: { V4_API_URL: `http://127.0.0.1:${port}` } });
    try {
      const body = await query(harness, '{ users { name } }');
      expect(body.errors?.[0]?.extensions?.code).toBe('UPSTREAM_UNAVAILABLE');
      expect(body.errors?.[0]?.message).toMatch(/could not be reached/);
    } finally {
      await harness.close();
    }
  });

  it('an upstream that never answers is UPSTREAM_TIMEOUT after the configured timeout', async () => {
    const rude = await startRudeUpstream(demo.url, () => true);
    const harness = await startHarness({
      upstream: demo,
      credentials: { V4_API_URL: rude.url },
      env: { LEADGRAPH_UPSTREAM_TIMEOUT_MS: '300' },
    });
    try {
      const started = Date.now();
      const body = await query(harness, '{ leads(first: 1) { edges { cursor } } }');
      expect(body.errors?.[0]?.extensions?.code).toBe('UPSTREAM_TIMEOUT');
      expect(Date.now() - started).toBeLessThan(10_000);
    } finally {
      await harness.close();
      await rude.close();
    }
  });

  it('malformed JSON, a missing data list and an upstream that ignores our limit are UPSTREAM_BAD_RESPONSE', async () => {
    const rude = await startRudeUpstream(demo.url, (request, response) => {
      const url = new URL(request.url ?? '/', 'http://x');
      if (url.pathname.endsWith('/users')) {
        response.writeHead(200, { 'content-type': 'application/json' }).end('{"data": [ {"user_id": ');
        return true;
      }
      if (url.pathname.endsWith('/pipelines')) {
        response.writeHead(200, { 'content-type': 'application/json' }).end('{"items": []}');
        return true;
      }
      if (url.pathname.endsWith('/leads')) {
        // Clamps limit to 3 but says there is more: offsets computed from our limit would skip rows.
        response.writeHead(200, { 'content-type': 'application/json' });
        response.end(
          JSON.stringify({ data: [{ lead_id: '1' }, { lead_id: '2' }, { lead_id: '3' }], meta: { page: 1, limit: 3, hasNextPage: true } }),
        );
        return true;
      }
      return false;
    });
    const harness = await startHarness({ upstream: demo, credentials: { V4_API_URL: rude.url } });
    try {
      const users = await query(harness, '{ users { name } }');
      expect(users.errors?.[0]?.extensions?.code).toBe('UPSTREAM_BAD_RESPONSE');
      const pipelines = await query(harness, '{ pipelines { name } }');
      expect(pipelines.errors?.[0]?.extensions?.code).toBe('UPSTREAM_BAD_RESPONSE');
      expect(pipelines.errors?.[0]?.message).toMatch(/without a "data" list/);
      const leads = await query(harness, '{ leads(first: 5) { edges { cursor } } }');
      expect(leads.errors?.[0]?.extensions?.code).toBe('UPSTREAM_BAD_RESPONSE');
      expect(leads.errors?.[0]?.message).toMatch(/did not honour limit=500.*LEADGRAPH_UPSTREAM_PAGE_SIZE/);
    } finally {
      await harness.close();
      await rude.close();
    }
  });

  it('users failing while leads work yields the leads with null users and an error per path', async () => {
    const rude = await startRudeUpstream(demo.url, (request, response) => {
      if (!request.url?.startsWith('/v1/kommo/users')) return false;
      response.writeHead(500, { 'content-type': 'application/json' }).end('{"statusCode":500,"message":"Internal server error"}');
      return true;
    });
    const harness = await startHarness({ upstream: demo, credentials: { V4_API_URL: rude.url } });
    try {
      const result = await harness.execute(LeadsWithPeopleDocument, { first: 5 });
      expect(result.data?.leads.edges).toHaveLength(5);
      expect(result.data?.leads.edges.every((edge) => edge.node.pipeline !== null && edge.node.responsibleUser === null)).toBe(true);
      expect(result.errors?.length).toBeGreaterThan(0);
      expect(result.errors?.every((error) => error.extensions?.code === 'UPSTREAM_UNAVAILABLE' && error.path?.length === 5)).toBe(true);
      // The gateway goes on serving.
      const lead = await harness.execute(OneLeadDocument, { kommoId: '20000002' });
      expect(lead.data?.lead?.kommoId).toBe('20000002');
    } finally {
      await harness.close();
      await rude.close();
    }
  });

  it('an unexpected error is masked in the response and logged in full', async () => {
    const harness = await startHarness({
      upstream: demo,
      wrapAdapter: (source) => ({
        ...source,
        listUsers: async () => {
          throw new TypeError('internal detail at /srv/leadgraph/secret-path');
        },
      }),
    });
    try {
      const body = await query(harness, '{ users { name } }');
      expect(body.errors?.[0]).toMatchObject({ message: 'Unexpected error.', extensions: { code: 'INTERNAL_SERVER_ERROR' } });
      expect(JSON.stringify(body)).not.toContain('secret-path');
      expect(harness.logs.join('\n')).toContain('secret-path');
      const again = await query(harness, '{ pipelines { name } }');
      expect(again.errors).toBeUndefined();
    } finally {
      await harness.close();
    }
  });
});

describe('a client that goes away', () => {
  it('aborts the upstream calls it started', async () => {
    const demo = await startTestUpstream({ leads: 10 });
    let upstreamClosedAt = 0;
    const rude = await startRudeUpstream(demo.url, (request) => {
      request.on('close', () => {
        upstreamClosedAt = Date.now();
      });
      return true; // never answers
    });
    const harness = await startHarness({
      upstream: demo,
      credentials: { V4_API_URL: rude.url },
      env: { LEADGRAPH_UPSTREAM_TIMEOUT_MS: '20000' },
    });
    try {
      const controller = new AbortController();
      const pending = harness.post({ query: '{ leads(first: 1) { edges { cursor } } }' }, {}, controller.signal).catch(() => 'aborted');
      await new Promise((resolve) => setTimeout(resolve, 300));
      const abortedAt = Date.now();
      controller.abort();
      expect(await pending).toBe('aborted');
      for (let i = 0; i < 100 && upstreamClosedAt === 0; i += 1) await new Promise((resolve) => setTimeout(resolve, 50));
      expect(upstreamClosedAt).toBeGreaterThanOrEqual(abortedAt);
    } finally {
      await harness.close();
      await rude.close();
      await demo.close();
    }
  });
});
