/**
 * `Subscription.leadChanged` with real clients on loopback: GraphQL over SSE (Yoga) and over WebSocket
 * (graphql-ws), against a test upstream whose data changes; the index refreshes every second.
 */
import { createClient } from 'graphql-ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { type Harness, startHarness } from './support/harness.js';
import { type Change, SUBSCRIPTION, sse } from './support/sse.js';
import { until } from './support/until.js';

describe('leadChanged', () => {
  let harness: Harness;
  const live = async (): Promise<string> => {
    const text = await (await fetch(harness.url.replace('/graphql', '/metrics'))).text();
    return /leadgraph_subscriptions_live (\d+)/.exec(text)?.[1] ?? '0';
  };

  beforeAll(async () => {
    harness = await startHarness({ demo: { leads: 300, seed: 8 }, env: { LEADGRAPH_INDEX: 'on', LEADGRAPH_INDEX_REFRESH_SECONDS: '1' } });
    await harness.post({ query: '{ pipelines { name } }' });
    const ready = harness.url.replace('/graphql', '/ready');
    await until(
      async () => ((await (await fetch(ready)).json()) as { index: { state: string } }).index.state === 'ready',
      10_000,
      'index ready',
    );
  });
  afterAll(() => harness.close());

  it('over SSE: CREATED, UPDATED with changedFields, DELETED, within the refresh interval plus a second', async () => {
    const subscriber = sse(harness);
    await until(async () => harness.gateway.indexes.status().leads > 0 && (await live()) === '1', 5000, 'subscribed');
    const created = harness.demo.insertLead({ name: 'Fresh deal', price: 1234, tags: [] });
    const started = Date.now();
    await until(() => subscriber.changes.some((change) => change.lead.kommoId === String(created.id)), 5000, 'CREATED');
    // The refresh interval (1 s) plus a second, and a second of slack for a loaded machine.
    expect(Date.now() - started).toBeLessThan(1000 + 1000 + 1000);
    expect(subscriber.changes.find((change) => change.lead.kommoId === String(created.id))).toMatchObject({
      kind: 'CREATED',
      changedFields: [],
      lead: { name: 'Fresh deal', price: 1234 },
    });
    harness.demo.updateLead(created.id, { price: 99, name: 'Fresh deal, cheaper' });
    await until(() => subscriber.changes.some((change) => change.kind === 'UPDATED'), 5000, 'UPDATED');
    const updated = subscriber.changes.find((change) => change.kind === 'UPDATED');
    expect(updated?.lead).toMatchObject({ kommoId: String(created.id), price: 99, name: 'Fresh deal, cheaper' });
    expect(updated?.changedFields).toEqual(expect.arrayContaining(['name', 'price', 'updatedAt']));
    harness.demo.deleteLead(created.id);
    await until(() => subscriber.changes.some((change) => change.kind === 'DELETED'), 5000, 'DELETED');
    expect(subscriber.changes.find((change) => change.kind === 'DELETED')?.lead).toMatchObject({
      kommoId: String(created.id),
      isDeleted: true,
    });
    expect(subscriber.errors).toEqual([]);
    subscriber.close();
    await until(async () => (await live()) === '0', 3000, 'the subscription freed');
  });

  it('over WebSocket (graphql-ws): a filtered subscription receives only its leads; 100 subscribers cost the upstream what one does', async () => {
    const client = createClient({ url: harness.url.replace('http', 'ws'), webSocketImpl: WebSocket, retryAttempts: 0 });
    const [pipeline, other] = harness.demo.account.pipelines;
    const mine: Change[] = [];
    const unsubscribe = client.subscribe<{ leadChanged: Change }>(
      { query: SUBSCRIPTION, variables: { filter: { pipelineId: String(pipeline?.id) } } },
      { next: (result) => result.data && mine.push(result.data.leadChanged), error: () => undefined, complete: () => undefined },
    );
    const crowd = Array.from({ length: 99 }, () => sse(harness));
    await until(async () => (await live()) === '100', 10_000, '100 subscribers');
    // The upstream calls per second with 100 subscribers: the index's refresh, once per interval.
    harness.demo.reset();
    const inside = harness.demo.insertLead({ name: 'In pipeline', pipelineId: pipeline?.id, statusId: pipeline?.statuses[0]?.id });
    const outside = harness.demo.insertLead({ name: 'Elsewhere', pipelineId: other?.id, statusId: other?.statuses[0]?.id });
    await until(() => mine.some((change) => change.lead.kommoId === String(inside.id)), 5000, 'the filtered lead');
    await until(() => crowd.every((one) => one.changes.some((change) => change.lead.kommoId === String(outside.id))), 5000, 'all 99');
    await new Promise((resolve) => setTimeout(resolve, 2000));
    expect(mine.map((change) => change.lead.kommoId)).toEqual([String(inside.id)]);
    const seconds = (Date.now() - (harness.demo.requests[0]?.at ?? Date.now())) / 1000;
    // One leads read per refresh interval (1 s), whatever the number of subscribers.
    expect(harness.demo.count('leads')).toBeLessThanOrEqual(Math.ceil(seconds) + 2);
    expect(harness.demo.requests.every((request) => request.query.lastModifiedStart !== undefined)).toBe(true);
    // A lead that leaves the filter is sent once, as UPDATED with its new values.
    harness.demo.updateLead(inside.id, { pipelineId: other?.id, statusId: other?.statuses[0]?.id });
    await until(() => mine.length === 2, 5000, 'the lead leaving the filter');
    expect(mine[1]).toMatchObject({ kind: 'UPDATED', changedFields: expect.arrayContaining(['pipeline', 'status']) });
    harness.demo.updateLead(inside.id, { price: 5 });
    await new Promise((resolve) => setTimeout(resolve, 2500));
    expect(mine).toHaveLength(2);
    unsubscribe();
    await client.dispose();
    for (const one of crowd) one.close();
    await until(async () => (await live()) === '0', 5000, 'every subscription freed');
  });

  it('frees a WebSocket subscription at once when its client drops the connection abruptly', async () => {
    const socket = new WebSocket(harness.url.replace('http', 'ws'), 'graphql-transport-ws');
    await new Promise<void>((resolve, reject) => {
      socket.once('open', () => resolve());
      socket.once('error', reject);
    });
    socket.send(JSON.stringify({ type: 'connection_init' }));
    await new Promise<void>((resolve) => socket.once('message', () => resolve())); // connection_ack
    socket.send(JSON.stringify({ id: '1', type: 'subscribe', payload: { query: SUBSCRIPTION } }));
    await until(async () => (await live()) === '1', 5000, 'subscribed over a raw socket');
    socket.terminate(); // no close frame, no complete: the TCP connection just goes
    await until(async () => (await live()) === '0', 3000, 'the subscription freed');
  });

  it("frees a subscription the client completes (graphql-ws 'complete') while its socket stays open", async () => {
    const socket = new WebSocket(harness.url.replace('http', 'ws'), 'graphql-transport-ws');
    await new Promise<void>((resolve, reject) => {
      socket.once('open', () => resolve());
      socket.once('error', reject);
    });
    socket.send(JSON.stringify({ type: 'connection_init' }));
    await new Promise<void>((resolve) => socket.once('message', () => resolve()));
    for (const id of ['1', '2', '3']) {
      socket.send(JSON.stringify({ id, type: 'subscribe', payload: { query: SUBSCRIPTION } }));
      await until(async () => (await live()) === '1', 5000, `subscription ${id} live`);
      socket.send(JSON.stringify({ id, type: 'complete' }));
      await until(async () => (await live()) === '0', 3000, `subscription ${id} freed, the socket still open`);
    }
    expect(socket.readyState).toBe(WebSocket.OPEN);
    socket.close();
  });

  it('applies the cost limit to a subscription (its selection runs on every change), over SSE and WebSocket', async () => {
    const costly = `subscription { leadChanged { lead { pipeline { leads(first: 250) { edges { node {
      pipeline { leads(first: 250) { edges { node { kommoId name } } } } } } } } } } }`;
    const response = await harness.post({ query: costly }, { accept: 'text/event-stream' });
    expect(await response.text()).toContain('QUERY_TOO_COMPLEX');
    const client = createClient({ url: harness.url.replace('http', 'ws'), webSocketImpl: WebSocket, retryAttempts: 0 });
    const refused = await new Promise<unknown>((resolve) => {
      client.subscribe({ query: costly }, { next: resolve, error: resolve, complete: () => resolve('complete') });
    });
    expect(JSON.stringify(refused)).toContain('QUERY_TOO_COMPLEX');
    await client.dispose();
    await until(async () => (await live()) === '0', 3000, 'nothing left');
  });

  it('says how to subscribe when a subscription comes over plain HTTP without text/event-stream, and leaves none behind', async () => {
    for (const accept of ['application/json', 'application/graphql-response+json']) {
      const response = await harness.post({ query: SUBSCRIPTION }, { accept });
      expect(response.status).toBe(406);
      const body = (await response.json()) as { errors: { message: string }[] };
      expect(body.errors[0]?.message).toContain('text/event-stream');
    }
    await until(async () => (await live()) === '0', 3000, 'no subscription left');
  });

  it('refuses a subscription past LEADGRAPH_MAX_SUBSCRIPTIONS_PER_TENANT', async () => {
    const small = await startHarness({
      upstream: harness.demo,
      env: { LEADGRAPH_INDEX: 'on', LEADGRAPH_MAX_SUBSCRIPTIONS_PER_TENANT: '1' },
    });
    try {
      const first = sse(small);
      await until(
        async () => (await (await fetch(small.url.replace('/graphql', '/metrics'))).text()).includes('leadgraph_subscriptions_live 1'),
        10_000,
        'one live',
      );
      const second = sse(small);
      await until(() => second.errors.length > 0, 5000, 'the refusal');
      expect(JSON.stringify(second.errors)).toContain('SUBSCRIPTION_LIMIT');
      first.close();
      second.close();
    } finally {
      await small.close();
    }
  });
});

describe('the WebSocket endpoint refuses what HTTP refuses', () => {
  let harness: Harness;
  beforeAll(async () => {
    harness = await startHarness({
      demo: { leads: 60 },
      env: { LEADGRAPH_INDEX: 'on', LEADGRAPH_CORS_ORIGINS: 'https://app.example.com' },
    });
  });
  afterAll(() => harness.close());

  /** The first result of one operation over a fresh graphql-ws client, and whether the socket stayed open for a second one. */
  const over = async (query: string, variables?: Record<string, unknown>, headers: Record<string, string> = {}) => {
    const client = createClient({
      url: harness.url.replace('http', 'ws'),
      webSocketImpl: class extends WebSocket {
        constructor(address: string, protocols?: string | string[]) {
          super(address, protocols, { headers });
        }
      },
      retryAttempts: 0,
      lazy: false,
    });
    const first = await new Promise<unknown>((resolve) => {
      client.subscribe({ query, variables }, { next: resolve, error: resolve, complete: () => resolve('complete') });
    });
    const second = await new Promise<unknown>((resolve) => {
      client.subscribe({ query: '{ __typename }' }, { next: resolve, error: resolve, complete: () => resolve('complete') });
    });
    await client.dispose();
    return { first: JSON.stringify(first), second: JSON.stringify(second) };
  };

  it('a page of another origin gets no socket (browsers apply no CORS to WebSockets)', async () => {
    const refused = await new Promise<number | string>((resolve) => {
      const socket = new WebSocket(harness.url.replace('http', 'ws'), 'graphql-transport-ws', {
        headers: { origin: 'https://evil.example.com' },
      });
      socket.on('unexpected-response', (_request, response) => resolve(response.statusCode ?? 0));
      socket.on('open', () => resolve('open'));
      socket.on('error', () => resolve('error'));
    });
    expect(refused).toBe(403);
    // A listed origin (LEADGRAPH_CORS_ORIGINS) gets its socket: the operation is answered on it.
    const { first } = await over('{ __typename }', undefined, { origin: 'https://app.example.com' });
    expect(first).toContain('subscriptions only');
  });

  it('runs subscriptions only, answers a syntax error or a lone surrogate as an error of that operation, and keeps the socket', async () => {
    const query = await over('{ leads(first: 1) { totalCount } }');
    expect(query.first).toContain('subscriptions only');
    expect(query.second).toContain('subscriptions only'); // the socket still answers
    const syntax = await over('subscription { leadChanged( ');
    expect(syntax.first).toContain('Syntax Error');
    const lone = await over(SUBSCRIPTION, { filter: { search: '\ud800' } });
    expect(lone.first).toContain('BAD_USER_INPUT');
    expect(lone.first).toContain('surrogate');
  });

  it('runs only trusted documents when LEADGRAPH_TRUSTED_DOCUMENTS_ONLY says so', async () => {
    const trusted = await startHarness({
      upstream: harness.demo,
      env: {
        LEADGRAPH_INDEX: 'on',
        LEADGRAPH_PERSISTED_DOCUMENTS: 'examples/frontend/src/gql/persisted-documents.json',
        LEADGRAPH_TRUSTED_DOCUMENTS_ONLY: 'true',
      },
    });
    try {
      const client = createClient({ url: trusted.url.replace('http', 'ws'), webSocketImpl: WebSocket, retryAttempts: 0 });
      const refused = await new Promise<unknown>((resolve) => {
        client.subscribe({ query: SUBSCRIPTION }, { next: resolve, error: resolve, complete: () => resolve('complete') });
      });
      expect(JSON.stringify(refused)).toContain('PERSISTED_QUERY_ONLY');
      await client.dispose();
    } finally {
      await trusted.close();
    }
  });
});

describe('leadChanged in multi-tenant mode', () => {
  it("ends a tenant's subscriptions with an error when its index is dropped (LEADGRAPH_INDEX_MAX_TENANTS)", async () => {
    const harness = await startHarness({
      demo: { leads: 40 },
      env: { LEADGRAPH_INDEX: 'on', LEADGRAPH_CREDENTIALS_FROM_REQUEST: 'true', LEADGRAPH_INDEX_MAX_TENANTS: '1' },
      credentials: { V4_CLIENT_ID: '', V4_CLIENT_SECRET: '', V4_WORKSPACE_ID: '' },
    });
    try {
      const headersOf = (tenant: { clientId: string; clientSecret: string; workspaceId: string }) => ({
        'x-client-id': tenant.clientId,
        'x-client-secret': tenant.clientSecret,
        'x-workspace-id': tenant.workspaceId,
      });
      const first = headersOf(harness.demo);
      const second = headersOf(harness.demo.addTenant({ leads: 20, seed: 3 }));
      await harness.post({ query: '{ pipelines { name } }' }, first); // the upstream answers these credentials
      const subscriber = sse(harness, {}, first);
      await until(async () => harness.gateway.indexes.status().tenants.ready === 1, 10_000, "the first tenant's index");
      await new Promise((resolve) => setTimeout(resolve, 300));
      // The second tenant's index takes the only place: the first one's goes, and so do its subscriptions.
      await harness.post({ query: '{ pipelines { name } }' }, second);
      await harness.post({ query: '{ leads(first: 1, orderBy: { field: PRICE }) { totalCount } }' }, second);
      await until(() => subscriber.errors.length > 0, 5000, 'the subscription ended');
      expect(JSON.stringify(subscriber.errors)).toContain('INDEX_UNAVAILABLE');
      subscriber.close();
    } finally {
      await harness.close();
    }
  });

  it('a wrong secret cannot subscribe', async () => {
    const harness = await startHarness({
      demo: { leads: 50 },
      env: { LEADGRAPH_INDEX: 'on', LEADGRAPH_CREDENTIALS_FROM_REQUEST: 'true' },
      credentials: { V4_CLIENT_ID: '', V4_CLIENT_SECRET: '', V4_WORKSPACE_ID: '' },
    });
    try {
      const { demo } = harness;
      const wrong = { 'x-client-id': demo.clientId, 'x-client-secret': 'not-the-secret', 'x-workspace-id': demo.workspaceId };
      const subscriber = sse(harness, {}, wrong);
      await until(() => subscriber.errors.length > 0, 5000, 'the refusal');
      expect(JSON.stringify(subscriber.errors)).toMatch(/UPSTREAM_UNAUTHORIZED|UNAUTHENTICATED/);
      expect(subscriber.changes).toEqual([]);
      subscriber.close();
      // Over WebSocket, with the credentials in connection_init, too.
      const client = createClient({
        url: harness.url.replace('http', 'ws'),
        webSocketImpl: WebSocket,
        retryAttempts: 0,
        connectionParams: wrong,
      });
      const refused = await new Promise<unknown>((resolve) => {
        client.subscribe(
          { query: SUBSCRIPTION },
          { next: (value) => resolve(value), error: (error) => resolve(error), complete: () => resolve('complete') },
        );
      });
      expect(JSON.stringify(refused)).toMatch(/UPSTREAM_UNAUTHORIZED|UNAUTHENTICATED/);
      await client.dispose();
    } finally {
      await harness.close();
    }
  });
});
