import { request as httpRequest } from 'node:http';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { type DemoUpstream, startDemoUpstream } from '../src/demo/server.js';
import { createGateway } from '../src/server.js';
import { profileOf } from '../src/sources/profiles.js';
import { createUpstreamAgent } from '../src/transport/http.js';
import { type Harness, startHarness } from './support/harness.js';

const QUERY = JSON.stringify({ query: '{ pipelines { name } }' });

/** A raw HTTP request, so the test can send any Host header (fetch does not let it). */
function rawPost(
  url: string,
  headers: Record<string, string>,
): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  return new Promise((resolve, reject) => {
    const request = httpRequest(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers } }, (response) => {
      let body = '';
      response.on('data', (chunk) => {
        body += String(chunk);
      });
      response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body }));
    });
    request.on('error', reject);
    request.setTimeout(5_000, () => request.destroy(new Error('timed out')));
    request.end(QUERY);
  });
}

describe('browsers: CORS off by default, listed origins only', () => {
  let harness: Harness;
  let listed: Harness;
  beforeAll(async () => {
    harness = await startHarness();
    listed = await startHarness({
      upstream: harness.demo,
      env: { LEADGRAPH_CORS_ORIGINS: 'https://app.example.com, http://localhost:5173', LEADGRAPH_ALLOWED_HOSTS: 'gateway.internal' },
    });
  });
  afterAll(async () => {
    await listed.close();
    await harness.close();
  });

  it('sends no CORS header to any origin unless it is listed, and never a wildcard or credentials to others', async () => {
    for (const origin of ['https://evil.example', 'http://localhost:5173', 'null']) {
      const response = await harness.post(QUERY, { origin });
      expect(response.status).toBe(200);
      expect(response.headers.get('access-control-allow-origin')).toBeNull();
      expect(response.headers.get('access-control-allow-credentials')).toBeNull();
      expect(response.headers.get('vary')).toMatch(/Origin/);
    }
    const preflight = await fetch(harness.url, {
      method: 'OPTIONS',
      headers: {
        origin: 'https://evil.example',
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'content-type',
      },
    });
    expect(preflight.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('allows exactly the listed origins, with credentials and the headers a client sends', async () => {
    const response = await listed.post(QUERY, { origin: 'https://app.example.com' });
    expect(response.headers.get('access-control-allow-origin')).toBe('https://app.example.com');
    expect(response.headers.get('access-control-allow-credentials')).toBe('true');
    const preflight = await fetch(listed.url, {
      method: 'OPTIONS',
      headers: {
        origin: 'http://localhost:5173',
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'content-type',
      },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-origin')).toBe('http://localhost:5173');
    expect(preflight.headers.get('access-control-allow-headers')).toMatch(/content-type/);
    for (const origin of ['https://app.example.com.evil.example', 'http://localhost:5174', 'https://APP.example.com']) {
      expect((await listed.post(QUERY, { origin })).headers.get('access-control-allow-origin')).toBeNull();
    }
  });

  it('refuses a request whose Host is not loopback (DNS rebinding) with a plain 403, and accepts listed hosts', async () => {
    harness.demo.reset();
    for (const host of ['evil.example', 'evil.example:4000', '127.0.0.1.evil.example', 'localhost.']) {
      const answer = await rawPost(harness.url, { host });
      expect(answer.status).toBe(403);
      expect(answer.body).toMatch(/^Forbidden: this gateway listens on loopback/);
      expect(answer.headers['content-type']).toMatch(/^text\/plain/);
    }
    expect(harness.demo.count()).toBe(0);
    const port = new URL(harness.url).port;
    for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, 'localhost', `[::1]:${port}`]) {
      expect((await rawPost(harness.url, { host })).status).toBe(200);
    }
    expect((await rawPost(listed.url, { host: 'gateway.internal:8080' })).status).toBe(200);
    // A Host no URL can be built from is a plain 400, never Yoga's 500 with a stack trace.
    for (const host of ['127.0.0.1:99999', '[zz]', 'a%b', 'evil example', '127.0.0.1@evil.example']) {
      const answer = await rawPost(harness.url, { host });
      expect(answer.status).toBe(400);
      expect(answer.body).toBe('Bad Request: malformed Host header\n');
    }
    expect((await rawPost(listed.url, { host: 'other.internal' })).status).toBe(403);
  });
});

describe('browsers: a gateway listening beyond loopback', () => {
  it('checks no Host (the proxy in front does) and still says Vary: Origin, with CORS for listed origins only', async () => {
    const harness = await startHarness({ env: { HOST: '0.0.0.0', LEADGRAPH_CORS_ORIGINS: 'https://app.example.com' } });
    try {
      expect((await rawPost(harness.url, { host: 'leads.example.com' })).status).toBe(200);
      const listed = await harness.post(QUERY, { origin: 'https://app.example.com' });
      expect(listed.headers.get('access-control-allow-origin')).toBe('https://app.example.com');
      expect(listed.headers.get('vary')).toMatch(/Origin/);
      const other = await harness.post(QUERY, { origin: 'https://evil.example' });
      expect(other.headers.get('access-control-allow-origin')).toBeNull();
      expect(other.headers.get('vary')).toMatch(/Origin/);
    } finally {
      await harness.close();
    }
  });
});

describe('browsers: the embedded demo allows local development origins', () => {
  let demo: DemoUpstream;
  beforeAll(async () => {
    demo = await startDemoUpstream({ leads: 20 });
  });
  afterAll(() => demo.close());

  it('answers http://localhost:<port> and http://127.0.0.1:<port> with CORS headers, other origins without', async () => {
    const config = loadConfig({});
    const dispatcher = createUpstreamAgent(5_000);
    const gateway = createGateway(
      { ...config, source: profileOf(config.source).withDemo(config.source, demo) },
      { dispatcher, logger: pino({ level: 'silent' }) },
    );
    try {
      const ask = (origin: string) =>
        gateway.yoga.fetch('http://127.0.0.1:4000/graphql', {
          method: 'POST',
          headers: { 'content-type': 'application/json', origin },
          body: QUERY,
        });
      for (const origin of ['http://localhost:5173', 'http://127.0.0.1:3000']) {
        const response = await ask(origin);
        expect(response.status).toBe(200);
        expect(response.headers.get('access-control-allow-origin')).toBe(origin);
      }
      for (const origin of ['https://localhost:5173', 'http://localhost.evil.example:80', 'https://evil.example']) {
        expect((await ask(origin)).headers.get('access-control-allow-origin')).toBeNull();
      }
    } finally {
      await gateway.close();
      await dispatcher.close();
    }
  });
});
