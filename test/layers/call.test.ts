import { describe, expect, it } from 'vitest';
import { cacheKey, compose, isRefused, type Layer, refused } from '../../src/transport/call.js';
import { callRequest, json, tenant } from './fakes.js';

describe('the call signature', () => {
  it('composes layers with the first one outermost', async () => {
    const order: string[] = [];
    const layer =
      (name: string): Layer =>
      (next) =>
      async (request) => {
        order.push(`${name} in`);
        const result = await next(request);
        order.push(`${name} out`);
        return result;
      };
    const call = compose([layer('a'), layer('b')], async () => {
      order.push('call');
      return json('v');
    });
    await call(callRequest());
    expect(order).toEqual(['a in', 'b in', 'call', 'b out', 'a out']);
  });

  it('keys a call by tenant, path and sorted query, and marks refusals apart from other errors', () => {
    expect(cacheKey(callRequest({ query: { b: '2', a: 'x&y' } }))).toBe('cache-a|/v1/things?a=x%26y&b=2');
    expect(cacheKey(callRequest({ tenant: tenant('b'), query: {} }))).toBe('cache-b|/v1/things?');
    const error = new Error('no slot');
    expect(isRefused(error)).toBe(false);
    expect(refused(error)).toBe(error);
    expect(isRefused(error)).toBe(true);
    expect(isRefused('no slot')).toBe(false);
  });
});
