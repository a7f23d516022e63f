import { describe, expect, it } from 'vitest';
import { UpstreamError } from '../../src/errors.js';
import { createBreaker } from '../../src/transport/breaker.js';
import { isRefused } from '../../src/transport/call.js';
import { callRequest, json, scripted } from './fakes.js';

const forbidden = (html: boolean) =>
  new UpstreamError('UPSTREAM_FORBIDDEN', 'refused (403)', { endpoint: '/api/v4/leads', status: 403, html });
const limited = () => new UpstreamError('UPSTREAM_RATE_LIMITED', 'rate limit (429)', { endpoint: '/api/v4/leads', status: 429 });

function breaker(now: { at: number }) {
  const opened: string[] = [];
  const created = createBreaker({
    openOnHtmlForbidden: true,
    rateLimitedInARow: 3,
    cooldownMs: 60_000,
    upstreamName: 'Test API',
    onOpen: (tenant, reason) => opened.push(`${tenant} ${reason}`),
    now: () => now.at,
  });
  return { ...created, opened };
}

describe('the account breaker layer', () => {
  it('opens on an HTML 403, refuses without calling until the cool-down ends, and says so once', async () => {
    const now = { at: 0 };
    const { layer, opened, openCount } = breaker(now);
    const next = scripted(forbidden(true), json('ok'));
    const call = layer(next);
    await expect(call(callRequest())).rejects.toMatchObject({ code: 'UPSTREAM_FORBIDDEN' });
    now.at = 59_000;
    const error = await call(callRequest()).catch((caught: unknown) => caught);
    expect(error).toMatchObject({ code: 'UPSTREAM_FORBIDDEN', extensions: { retryAfter: 1 } });
    expect(isRefused(error)).toBe(true);
    expect(next.calls).toHaveLength(1);
    expect(openCount()).toBe(1);
    now.at = 60_001;
    expect(await call(callRequest())).toEqual(json('ok'));
    expect(openCount()).toBe(0);
    expect(opened).toEqual(['label-a forbidden']);
  });

  it('lets a JSON 403 through (a token without admin rights, not a ban), and opens only after three 429s in a row', async () => {
    const now = { at: 0 };
    const { layer, openCount } = breaker(now);
    const next = scripted(forbidden(false), limited(), limited(), json('ok'), limited(), limited(), limited(), json('never'));
    const call = layer(next);
    await expect(call(callRequest())).rejects.toMatchObject({ code: 'UPSTREAM_FORBIDDEN' });
    await expect(call(callRequest())).rejects.toMatchObject({ code: 'UPSTREAM_RATE_LIMITED' });
    await expect(call(callRequest())).rejects.toMatchObject({ code: 'UPSTREAM_RATE_LIMITED' });
    expect(await call(callRequest())).toEqual(json('ok')); // a success resets the count
    for (let i = 0; i < 3; i += 1) await expect(call(callRequest())).rejects.toMatchObject({ code: 'UPSTREAM_RATE_LIMITED' });
    expect(openCount()).toBe(1);
    await expect(call(callRequest())).rejects.toMatchObject({ code: 'UPSTREAM_RATE_LIMITED', extensions: { retryAfter: 60 } });
    expect(next.calls).toHaveLength(7);
  });
});
