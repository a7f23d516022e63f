import { describe, expect, it } from 'vitest';
import { createResponseStore } from '../src/plugins/response-store.js';
import { startHarness } from './support/harness.js';

const result = (bytes: number) => ({ data: { text: 'x'.repeat(bytes - 20) } }); // {"data":{"text":"…"}} is 20 bytes more

describe('the response store', () => {
  it('holds at most maxBytes of JSON, least recently used out first, and refuses a result larger than that', async () => {
    const store = createResponseStore({ maxBytes: 3_000, maxEntries: 100 });
    for (const id of ['a', 'b', 'c']) await store.set(id, result(1_000), [], 60_000);
    expect(store.bytes).toBe(3_000);
    await store.get('a'); // now b is the least recently used
    await store.set('d', result(1_000), [], 60_000);
    expect(await store.get('b')).toBeUndefined();
    expect(await store.get('a')).toEqual(result(1_000));
    expect(store.bytes).toBeLessThanOrEqual(3_000);
    await store.set('huge', result(5_000), [], 60_000);
    expect(await store.get('huge')).toBeUndefined();
    expect(store.size).toBe(3);
  });

  it('forgets an entry when its TTL runs out, and counts entries too', async () => {
    let now = 1_000;
    const store = createResponseStore({ maxBytes: 1_000_000, maxEntries: 2, now: () => now });
    await store.set('a', result(100), [], 500);
    await store.set('b', result(100), [], 60_000);
    await store.set('c', result(100), [], 60_000);
    expect(await store.get('a')).toBeUndefined(); // pushed out by the count
    now += 60_001;
    expect(await store.get('b')).toBeUndefined();
  });

  it('is what the gateway keeps whole responses in, within LEADGRAPH_RESPONSE_CACHE_MB', async () => {
    const harness = await startHarness({
      demo: { leads: 300 },
      env: { LEADGRAPH_CACHE_TTL_LEADS_SECONDS: '600', LEADGRAPH_CACHE_TTL_REFERENCE_SECONDS: '600', LEADGRAPH_RESPONSE_CACHE_MB: '1' },
    });
    try {
      const query =
        '{ leads(first: 250) { edges { cursor node { kommoId name price createdAt updatedAt tags { name color } customFields { name values { value } } } } } }';
      const first = await (await harness.post({ query })).text();
      expect(harness.gateway.responses.size).toBe(1);
      expect(await (await harness.post({ query })).text()).toBe(first);
      // Thirty more large pages (about 2.5 MB): the store keeps to its megabyte, dropping the oldest.
      for (let i = 0; i < 30; i += 1) await harness.post({ query: query.replace('first: 250', `first: ${220 + i}`) });
      expect(harness.gateway.responses.bytes).toBeLessThanOrEqual(1024 * 1024);
      expect(harness.gateway.responses.size).toBeGreaterThan(1);
      expect(harness.gateway.responses.size).toBeLessThan(30);
      expect(await (await harness.post({ query })).text()).toBe(first);
    } finally {
      await harness.close();
    }
  });
});
