import { describe, expect, it } from 'vitest';
import type { LockWait, SharedStore } from '../../src/transport/shared.js';
import { sharedCache } from '../../src/transport/shared-cache.js';
import { callRequest, json, scripted } from './fakes.js';

/**
 * An in-memory stand-in for Redis that records what the layer asks of it. `lockedByOther`: the lock is
 * another replica's (for that many attempts, when a number); `waits`: how each wait for it ends.
 */
function fakeStore(
  options: { up?: boolean; lockedByOther?: boolean | number; arrives?: string | null; waits?: LockWait['outcome'][] } = {},
) {
  let lockAttempts = 0;
  const waits = [...(options.waits ?? [])];
  const bodies = new Map<string, string>();
  const log: string[] = [];
  const store: SharedStore = {
    up: options.up ?? true,
    async get(key) {
      log.push('get');
      return bodies.get(key) ?? null;
    },
    async set(key, body, ttlMs) {
      log.push(`set ${body} ${ttlMs}`);
      bodies.set(key, body);
    },
    async lock() {
      log.push('lock');
      lockAttempts += 1;
      const { lockedByOther = false } = options;
      const held = typeof lockedByOther === 'number' ? lockAttempts <= lockedByOther : lockedByOther;
      return held || !(options.up ?? true) ? null : 'token-1';
    },
    async unlock(_key, token) {
      log.push(`unlock ${token}`);
    },
    async waitFor(key): Promise<LockWait> {
      log.push('wait');
      const body = options.arrives ?? null;
      if (body !== null) {
        bodies.set(key, body);
        return { outcome: 'arrived', body };
      }
      return { outcome: waits.shift() === 'released' ? 'released' : 'gave-up' };
    },
    reserve: async () => null,
    release: async () => undefined,
    close: async () => undefined,
  };
  return { store, log, bodies };
}

const TTL = { leads: 5_000, reference: 0 };

describe('the shared cache layer', () => {
  it('fetches a miss under the fetch lock, stores the body as received, and then serves it without the layers below', async () => {
    const { store, log } = fakeStore();
    const next = scripted(json({ data: [1] }));
    const call = sharedCache({ store, ttlMs: TTL, lockMs: 1_000 })(next);
    expect(await call(callRequest())).toEqual(json({ data: [1] }));
    expect(log).toEqual(['get', 'lock', 'set {"data":[1]} 5000', 'unlock token-1']);
    const again = await call(callRequest());
    expect(again).toEqual({ value: { data: [1] }, status: 200, received: { text: '{"data":[1]}', bytes: 12 }, cache: 'shared' });
    expect(next.calls).toHaveLength(1);
  });

  it('never stores a body the adapter cannot decode, so no replica reads it back', async () => {
    const { store, log, bodies } = fakeStore();
    const next = scripted(json({ items: [] }), json({ data: [2] }));
    const call = sharedCache({ store, ttlMs: TTL, lockMs: 1_000 })(next);
    const refusing = callRequest({
      decode: (body) => {
        if (!(body as { data?: unknown }).data) throw new Error('no data list');
        return body;
      },
    });
    await expect(call(refusing)).rejects.toThrow('no data list');
    expect(bodies.size).toBe(0);
    expect(log).toEqual(['get', 'lock', 'unlock token-1']);
    expect(await call(refusing)).toEqual(json({ data: [2] }));
    expect(next.calls).toHaveLength(2);
  });

  it('keeps an empty answer as an empty body, and reads it back as null', async () => {
    const { store } = fakeStore();
    const next = scripted({ value: null, status: 204, received: { text: '', bytes: 0 } });
    const call = sharedCache({ store, ttlMs: TTL, lockMs: 1_000 })(next);
    await call(callRequest());
    expect(await call(callRequest())).toMatchObject({ value: null, cache: 'shared' });
  });

  it('waits for the replica that holds the lock and answers with its result', async () => {
    const { store, log } = fakeStore({ lockedByOther: true, arrives: '{"from":"another replica"}' });
    const next = scripted(json('never'));
    const call = sharedCache({ store, ttlMs: TTL, lockMs: 1_000 })(next);
    expect(await call(callRequest())).toMatchObject({ value: { from: 'another replica' }, cache: 'shared' });
    expect(log).toEqual(['get', 'lock', 'wait']);
    expect(next.calls).toHaveLength(0);
  });

  it('fetches itself when the lock holder brings nothing in time, without unlocking a lock it does not hold', async () => {
    const { store, log } = fakeStore({ lockedByOther: true, arrives: null });
    const next = scripted(json('mine'));
    const call = sharedCache({ store, ttlMs: TTL, lockMs: 1_000 })(next);
    expect((await call(callRequest())).value).toBe('mine');
    expect(log).toEqual(['get', 'lock', 'wait', 'set "mine" 5000']);
  });

  it('takes the lock over when its holder lets go without a result, and waits again while another replica holds it', async () => {
    const { store, log } = fakeStore({ lockedByOther: 2, waits: ['released', 'released'] });
    const next = scripted(json('mine'));
    const call = sharedCache({ store, ttlMs: TTL, lockMs: 1_000 })(next);
    expect((await call(callRequest())).value).toBe('mine');
    expect(log).toEqual(['get', 'lock', 'wait', 'lock', 'wait', 'lock', 'set "mine" 5000', 'unlock token-1']);
  });

  it('goes straight on to the upstream while Redis is down, and not at all for a class with TTL 0', async () => {
    const down = fakeStore({ up: false });
    const next = scripted(json('v'));
    await sharedCache({ store: down.store, ttlMs: TTL, lockMs: 1_000 })(next)(callRequest());
    expect(down.log).not.toContain('wait');
    expect(next.calls).toHaveLength(1);

    const { store, log } = fakeStore();
    await sharedCache({ store, ttlMs: TTL, lockMs: 1_000 })(next)(callRequest({ cacheClass: 'reference' }));
    expect(log).toEqual([]);
  });

  it('releases the lock and stores nothing when the fetch fails', async () => {
    const { store, log, bodies } = fakeStore();
    const call = sharedCache({ store, ttlMs: TTL, lockMs: 1_000 })(scripted(new Error('upstream down')));
    await expect(call(callRequest())).rejects.toThrow('upstream down');
    expect(log).toEqual(['get', 'lock', 'unlock token-1']);
    expect(bodies.size).toBe(0);
  });
});
