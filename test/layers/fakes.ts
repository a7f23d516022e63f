/** Fakes for the transport layer tests: a call request, a recording report, a logger that keeps its lines. */
import { Writable } from 'node:stream';
import { type Logger, pino } from 'pino';
import type { UpstreamError } from '../../src/errors.js';
import type { CallReport, CallRequest, CallResult, UpstreamCall } from '../../src/transport/call.js';
import type { Tenant } from '../../src/transport/tenant.js';

export const tenant = (name = 'a', secret = `secret-of-${name}`): Tenant => ({
  credentialKey: `credential-${name}`,
  accountKey: `account-${name}`,
  cacheKey: `cache-${name}`,
  label: `label-${name}`,
  headers: { 'x-client-id': `client-${name}`, 'x-client-secret': secret },
  secrets: [secret],
});

export function capturingLogger(): { logger: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk, _encoding, done) {
      lines.push(JSON.parse(String(chunk)) as Record<string, unknown>);
      done();
    },
  });
  return { logger: pino({ level: 'debug' }, sink), lines };
}

const quiet = pino({ level: 'silent' });

export const callRequest = (overrides: Partial<CallRequest> = {}): CallRequest => ({
  tenant: tenant(),
  path: '/v1/things',
  query: { page: '1' },
  cacheClass: 'leads',
  decode: (body) => body,
  signal: new AbortController().signal,
  logger: quiet,
  scope: { client: 'client-a', priority: 'client' },
  ...overrides,
});

export const json = (value: unknown, status = 200): CallResult => {
  const text = JSON.stringify(value);
  return { value, status, received: { text, bytes: Buffer.byteLength(text) } };
};

/** A `next` that answers from a list of outcomes in turn (an Error is thrown), recording each request. */
export function scripted(...outcomes: (CallResult | Error | (() => Promise<CallResult>))[]): UpstreamCall & { calls: CallRequest[] } {
  const calls: CallRequest[] = [];
  const call = async (request: CallRequest): Promise<CallResult> => {
    calls.push(request);
    const outcome = outcomes[Math.min(calls.length, outcomes.length) - 1];
    if (outcome === undefined) throw new Error('no outcome scripted');
    if (outcome instanceof Error) throw outcome;
    return typeof outcome === 'function' ? outcome() : outcome;
  };
  return Object.assign(call, { calls });
}

export interface RecordedReport extends CallReport {
  readonly events: (
    | { kind: 'waited'; ms: number }
    | { kind: 'refused' }
    | { kind: 'failed'; code: UpstreamError['code']; attempt: number; retry: boolean }
  )[];
}

export function recordingReport(): RecordedReport {
  const events: RecordedReport['events'] = [];
  return {
    events,
    budgetWaited: (ms) => events.push({ kind: 'waited', ms }),
    budgetRefused: () => events.push({ kind: 'refused' }),
    attemptFailed: (error, attempt, retry) => events.push({ kind: 'failed', code: error.code, attempt, retry }),
  };
}
