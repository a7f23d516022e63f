import { describe, expect, it } from 'vitest';
import { DomainError } from '../../src/errors.js';
import { createUpstreamCache } from '../../src/transport/cache.js';
import { type CallResult, refused } from '../../src/transport/call.js';
import { memoryCache } from '../../src/transport/memory-cache.js';
import { callRequest, json, scripted, tenant } from './fakes.js';

const TTL = { leads: 1_000, reference: 0 };

describe('the memory cache layer', () => {
  it('decodes a miss once and answers a warm call with the decoded value, without the layers below', async () => {
    let decodes = 0;
    const decode = (body: unknown) => {
      decodes += 1;
      return { rows: (body as { data: unknown[] }).data.length };
    };
    const next = scripted(json({ data: [1, 2, 3] }, 203));
    const call = memoryCache({ cache: createUpstreamCache({ maxBytes: 1_000 }), ttlMs: TTL })(next);
    const miss = await call(callRequest({ decode }));
    expect(miss).toMatchObject({ value: { rows: 3 }, status: 203, received: { text: '{"data":[1,2,3]}' } });
    expect(miss.cache).toBeUndefined();
    expect(await call(callRequest({ decode }))).toEqual({ value: { rows: 3 }, status: 200, cache: 'hit' });
    expect(next.calls).toHaveLength(1);
    expect(decodes).toBe(1);
  });

  it('keys by tenant, path and query (in any order), and reloads after the TTL of the call class', async () => {
    let now = 0;
    const next = scripted(json('v'));
    const call = memoryCache({ cache: createUpstreamCache({ maxBytes: 1_000, now: () => now }), ttlMs: TTL })(next);
    await call(callRequest({ query: { a: '1', b: '2' } }));
    expect((await call(callRequest({ query: { b: '2', a: '1' } }))).cache).toBe('hit');
    await call(callRequest({ query: { a: '1', b: '2' }, tenant: tenant('b') }));
    await call(callRequest({ query: { a: '1', b: '2' }, path: '/v1/other' }));
    expect(next.calls).toHaveLength(3);
    // The reference class has TTL 0 here: never stored.
    await call(callRequest({ cacheClass: 'reference' }));
    await call(callRequest({ cacheClass: 'reference' }));
    expect(next.calls).toHaveLength(5);
    now = 1_001;
    expect((await call(callRequest({ query: { a: '1', b: '2' } }))).cache).toBeUndefined();
    expect(next.calls).toHaveLength(6);
  });

  it('evicts the least recently used entries by their size in bytes', async () => {
    const next = scripted(json('abcd')); // 6 bytes with its quotes
    const call = memoryCache({ cache: createUpstreamCache({ maxBytes: 12 }), ttlMs: TTL })(next);
    const at = (path: string) => call(callRequest({ path }));
    await at('/a');
    await at('/b');
    await at('/a'); // a is now the most recently used
    await at('/c'); // 18 bytes > 12: b goes
    expect(next.calls.map((request) => request.path)).toEqual(['/a', '/b', '/c']);
    expect((await at('/a')).cache).toBe('hit');
    expect((await at('/b')).cache).toBeUndefined();
  });

  it('coalesces identical calls in flight into one load below it', async () => {
    let release = (): void => undefined;
    const next = scripted(() => new Promise<CallResult>((resolve) => (release = () => resolve(json('v')))));
    const call = memoryCache({ cache: createUpstreamCache({ maxBytes: 1_000 }), ttlMs: TTL })(next);
    const pending = Array.from({ length: 5 }, () => call(callRequest()));
    release();
    const results = await Promise.all(pending);
    expect(next.calls).toHaveLength(1);
    expect(results.map((result) => result.cache)).toEqual([undefined, 'coalesced', 'coalesced', 'coalesced', 'coalesced']);
  });

  it('caches no failure, a decode that throws included', async () => {
    const next = scripted(new Error('down'), json({ bad: true }), json({ good: true }));
    const decode = (body: unknown) => {
      if ((body as { bad?: boolean }).bad) throw new Error('not a page');
      return body;
    };
    const call = memoryCache({ cache: createUpstreamCache({ maxBytes: 1_000 }), ttlMs: TTL })(next);
    await expect(call(callRequest({ decode }))).rejects.toThrow('down');
    await expect(call(callRequest({ decode }))).rejects.toThrow('not a page');
    expect((await call(callRequest({ decode }))).value).toEqual({ good: true });
    expect((await call(callRequest({ decode }))).cache).toBe('hit');
    expect(next.calls).toHaveLength(3);
  });

  it('runs the load under a signal of its own, aborted only when every caller has gone', async () => {
    const next = scripted(() => new Promise<CallResult>(() => undefined));
    const call = memoryCache({ cache: createUpstreamCache({ maxBytes: 1_000 }), ttlMs: TTL })(next);
    const first = new AbortController();
    const second = new AbortController();
    const a = call(callRequest({ signal: first.signal }));
    const b = call(callRequest({ signal: second.signal }));
    const loadSignal = next.calls[0]?.signal as AbortSignal;
    expect(loadSignal).not.toBe(first.signal);
    first.abort(new Error('first gone'));
    await expect(a).rejects.toThrow('first gone');
    expect(loadSignal.aborted).toBe(false);
    second.abort(new Error('second gone'));
    await expect(b).rejects.toThrow('second gone');
    expect(loadSignal.aborted).toBe(true);
  });

  it("does not pass one request's refusal to another that joined its load: the joiner tries under its own scope", async () => {
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const spent = refused(new DomainError('UPSTREAM_CALL_LIMIT', 'allowance spent'));
    const next = scripted(async () => {
      await gate;
      throw spent;
    }, json('fresh'));
    const call = memoryCache({ cache: createUpstreamCache({ maxBytes: 1_000 }), ttlMs: TTL })(next);
    const first = call(callRequest({ scope: { client: 'a', priority: 'client' } })).catch((error: unknown) => error);
    const joined = call(callRequest({ scope: { client: 'b', priority: 'client' } }));
    release();
    expect(await first).toBe(spent);
    expect((await joined).value).toBe('fresh');
    expect(next.calls.map((request) => request.scope.client)).toEqual(['a', 'b']);
    // Any other failure is shared, as before: one upstream attempt answers every caller.
    const failing = scripted(new Error('upstream down'));
    const shared = memoryCache({ cache: createUpstreamCache({ maxBytes: 1_000 }), ttlMs: TTL })(failing);
    const both = await Promise.all([
      shared(callRequest()).catch((e: Error) => e.message),
      shared(callRequest()).catch((e: Error) => e.message),
    ]);
    expect(both).toEqual(['upstream down', 'upstream down']);
    expect(failing.calls).toHaveLength(1);
  });
});
