import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { UpstreamError } from '../../src/errors.js';
import { kommoResponseRules } from '../../src/sources/kommo/http-rules.js';
import { compose } from '../../src/transport/call.js';
import { createUpstreamAgent, httpCall, type ResponseRules } from '../../src/transport/http.js';
import { retry } from '../../src/transport/retry.js';
import { callRequest, tenant } from './fakes.js';

type Handler = (request: IncomingMessage, response: ServerResponse) => void;

describe('the http call, against a loopback server', () => {
  let server: Server;
  let baseUrl: string;
  let handler: Handler = (_request, response) => response.end('{}');
  const seen: { url: string; headers: IncomingMessage['headers'] }[] = [];
  const agent = createUpstreamAgent(2_000);

  beforeAll(async () => {
    server = createServer((request, response) => {
      seen.push({ url: request.url ?? '', headers: request.headers });
      handler(request, response);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/base/`;
  });
  afterEach(() => {
    seen.length = 0;
  });
  afterAll(async () => {
    await agent.close();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  const call = (options: { rules?: ResponseRules; timeoutMs?: number; url?: string } = {}) =>
    httpCall({
      baseUrl: options.url ?? baseUrl,
      dispatcher: agent,
      timeoutMs: options.timeoutMs ?? 2_000,
      upstreamName: 'Test API',
      rules: options.rules,
    });
  const answer = (status: number, body: string, headers: Record<string, string> = {}): Handler => {
    return (_request, response) => response.writeHead(status, { 'content-type': 'application/json', ...headers }).end(body);
  };
  const failureOf = async (promise: Promise<unknown>): Promise<UpstreamError> => {
    const error = await promise.catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(UpstreamError);
    return error as UpstreamError;
  };

  it('GETs the path under the base URL with the sorted query and the tenant headers, and answers the parsed body', async () => {
    handler = answer(200, '{"data":[1,2]}');
    const result = await call()(callRequest({ path: '/v1/leads', query: { z: '1', a: 'x y' } }));
    expect(result).toEqual({ value: { data: [1, 2] }, status: 200, received: { text: '{"data":[1,2]}', bytes: 14 } });
    expect(seen[0]?.url).toBe('/base/v1/leads?a=x+y&z=1');
    expect(seen[0]?.headers).toMatchObject({ accept: 'application/json', 'x-client-id': 'client-a', 'x-client-secret': 'secret-of-a' });
  });

  it('maps statuses onto stable codes, with the useful part of the body', async () => {
    const cases: [number, string, UpstreamError['code'], string][] = [
      [
        400,
        '{"statusCode":400,"message":["limit must be a number"]}',
        'UPSTREAM_BAD_REQUEST',
        'Test API rejected the request (400): limit must be a number',
      ],
      [
        401,
        '{"message":"Invalid client credentials"}',
        'UPSTREAM_UNAUTHORIZED',
        'Test API rejected the credentials (401): Invalid client credentials',
      ],
      [403, '<html><body>nginx</body></html>', 'UPSTREAM_FORBIDDEN', 'Test API refused access (403): an HTML page'],
      [404, '', 'UPSTREAM_BAD_REQUEST', 'Test API rejected the request (404)'],
      [500, '{"statusCode":500,"message":"Internal server error"}', 'UPSTREAM_UNAVAILABLE', 'Test API failed (500): Internal server error'],
      [429, '{"message":"slow down"}', 'UPSTREAM_RATE_LIMITED', 'Test API rate limit reached (429): slow down'],
    ];
    for (const [status, body, code, message] of cases) {
      handler = answer(status, body);
      const error = await failureOf(call()(callRequest()));
      expect([error.code, error.message, error.status]).toEqual([code, message, status]);
      expect(error.extensions).not.toHaveProperty('retryAfter');
    }
    handler = answer(200, '{"data": [');
    const bad = await failureOf(call()(callRequest()));
    expect([bad.code, bad.message]).toEqual(['UPSTREAM_BAD_RESPONSE', 'Test API GET /v1/things answered 200 with a body that is not JSON']);
  });

  it("reads a 429's Retry-After in seconds or as an HTTP date", async () => {
    handler = answer(429, '{}', { 'retry-after': '7' });
    expect((await failureOf(call()(callRequest()))).extensions.retryAfter).toBe(7);
    handler = answer(429, '{}', { 'retry-after': new Date(Date.now() + 30_000).toUTCString() });
    const fromDate = (await failureOf(call()(callRequest()))).extensions.retryAfter as number;
    expect(fromDate).toBeGreaterThanOrEqual(28);
    expect(fromDate).toBeLessThanOrEqual(31);
  });

  it('never puts a secret of the tenant into an error message', async () => {
    handler = answer(400, '{"message":"bad secret top-secret-123 for client"}');
    const error = await failureOf(call()(callRequest({ tenant: tenant('a', 'top-secret-123') })));
    expect(error.message).toBe('Test API rejected the request (400): bad secret [redacted] for client');
  });

  it('times out an upstream that does not answer, and maps an unreachable one', async () => {
    handler = () => undefined; // never answers
    const timeout = await failureOf(call({ timeoutMs: 100 })(callRequest()));
    expect([timeout.code, timeout.message]).toEqual(['UPSTREAM_TIMEOUT', 'Test API did not answer in time']);

    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const { port } = closed.address() as AddressInfo;
    await new Promise((resolve) => closed.close(resolve));
    const down = await failureOf(call({ url: `http://127.0.0.1:${port}` })(callRequest()));
    expect(down.code).toBe('UPSTREAM_UNAVAILABLE');
    expect(down.message).toMatch(/^Test API could not be reached \(ECONNREFUSED\)$/);
  });

  it('stops when the caller goes away, and names the request deadline when that was the reason', async () => {
    handler = () => undefined;
    const gone = new AbortController();
    const pending = failureOf(call()(callRequest({ signal: gone.signal })));
    setTimeout(() => gone.abort(new Error('client gone')), 20);
    expect((await pending).message).toBe('Test API call was cancelled because the request ended');

    const deadline = new AbortController();
    const late = failureOf(call()(callRequest({ signal: deadline.signal })));
    setTimeout(() => deadline.abort(new DOMException('deadline', 'TimeoutError')), 20);
    const error = await late;
    expect([error.code, error.message]).toEqual([
      'UPSTREAM_TIMEOUT',
      'The request ran out of time (LEADGRAPH_REQUEST_TIMEOUT_MS) waiting for Test API',
    ]);
  });

  it('knows no upstream quirk by itself: a 204 is a body that is not JSON, a retry_after body is just a body', async () => {
    handler = (_request, response) => response.writeHead(204).end();
    expect((await failureOf(call()(callRequest()))).code).toBe('UPSTREAM_BAD_RESPONSE');
    handler = answer(429, '{"title":"Too Many Requests","retry_after":300}');
    expect((await failureOf(call()(callRequest()))).extensions).not.toHaveProperty('retryAfter');
  });

  it("applies Kommo's rules when given them: 204 is an empty answer, a 429 body's retry_after is the delay", async () => {
    handler = (_request, response) => response.writeHead(204).end();
    expect(await call({ rules: kommoResponseRules })(callRequest())).toEqual({
      value: null,
      status: 204,
      received: { text: '', bytes: 0 },
    });
    handler = answer(429, '{"title":"Too Many Requests","detail":"Too many requests","retry_after":300}');
    const limited = await failureOf(call({ rules: kommoResponseRules })(callRequest()));
    expect(limited.extensions).toMatchObject({ code: 'UPSTREAM_RATE_LIMITED', retryAfter: 300 });
    expect(limited.message).toBe('Test API rate limit reached (429): Too many requests');
    // A Retry-After header still wins over the body.
    handler = answer(429, '{"retry_after":300}', { 'retry-after': '2' });
    expect((await failureOf(call({ rules: kommoResponseRules })(callRequest()))).extensions.retryAfter).toBe(2);
    // An HTML 403 (no JSON at all) passes the rules untouched.
    handler = answer(403, '<html></html>');
    expect((await failureOf(call({ rules: kommoResponseRules })(callRequest()))).code).toBe('UPSTREAM_FORBIDDEN');
  });

  it("under the retry layer, a 429 whose body says retry_after: 0 is retried at once with Kommo's rules, and not without them", async () => {
    let answered = 0;
    handler = (_request, response) => {
      answered += 1;
      if (answered === 1) response.writeHead(429, { 'content-type': 'application/problem+json' }).end('{"retry_after":0}');
      else response.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
    };
    // The backoff (60 s) is beyond the maximum wait: only a Retry-After the rules read can make it retry.
    const retrying = retry({ retries: 1, backoffMs: 60_000, maxWaitMs: 1_000, upstreamName: 'Test API', random: () => 1 });
    expect((await compose([retrying], call({ rules: kommoResponseRules }))(callRequest())).value).toEqual({ ok: true });
    answered = 0;
    expect((await failureOf(compose([retrying], call())(callRequest()))).code).toBe('UPSTREAM_RATE_LIMITED');
    expect(answered).toBe(1);
  });
});
