import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';

/** Runs a script in a child Node with --expose-gc (vitest's workers have no `gc`), returning its output. */
function runWithGc(script: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--expose-gc', '--import', 'tsx', '--input-type=module', '-e', script], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk) => {
      output += String(chunk);
    });
    child.stderr.on('data', (chunk) => {
      output += String(chunk);
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

describe('the request deadline', () => {
  it('fires after garbage collections, as long as the request holds its signal', async () => {
    // Node 20 holds AbortSignal.any's sources weakly: a bare AbortSignal.timeout is collected and never fires.
    const { code, output } = await runWithGc(`
      import { requestSignal } from './src/deadline.ts';
      const client = new AbortController();
      const held = requestSignal(client.signal, 300);
      const started = Date.now();
      held.signal.addEventListener('abort', () => {
        console.log('aborted', held.signal.reason?.name, Date.now() - started);
        process.exit(0);
      });
      setInterval(() => globalThis.gc(), 20);
      setTimeout(() => { console.log('not aborted'); process.exit(1); }, 2000);
    `);
    expect(output).toMatch(/^aborted TimeoutError \d+/);
    expect(code).toBe(0);
  });

  it('a query with a connection under every user prints no MaxListenersExceededWarning', async () => {
    const { startHarness } = await import('./support/harness.js');
    const harness = await startHarness({ demo: { leads: 300 }, env: { LEADGRAPH_MAX_UPSTREAM_CALLS_PER_REQUEST: '100' } }); // a page under each of the 30+ users
    const warnings: string[] = [];
    const onWarning = (warning: Error) => warnings.push(warning.name);
    process.on('warning', onWarning);
    try {
      const response = await harness.post({
        query: '{ users { leads(first: 2) { edges { cursor } } } pipelines { leads(first: 2) { edges { cursor } } } }',
      });
      const body = (await response.json()) as { errors?: unknown };
      expect(body.errors).toBeUndefined();
      await new Promise((resolve) => setTimeout(resolve, 50)); // warnings are emitted on the next tick
      expect(warnings).not.toContain('MaxListenersExceededWarning');
    } finally {
      process.off('warning', onWarning);
      await harness.close();
    }
  });

  it('counts from when the request arrived (a fraction of a millisecond included), and ends at once one that arrived too long ago', async () => {
    const { requestSignal } = await import('../src/deadline.js');
    const client = new AbortController().signal;
    /** Resolves with how long the signal took to abort, or rejects past `limitMs`. */
    const abortsWithin = (signal: AbortSignal, limitMs: number) =>
      new Promise<number>((resolve, reject) => {
        const started = Date.now();
        const timer = setTimeout(() => reject(new Error('not aborted')), limitMs);
        signal.addEventListener('abort', () => {
          clearTimeout(timer);
          resolve(Date.now() - started);
        });
      });
    const held = requestSignal(client, 300, performance.now() - 200.5);
    expect(await abortsWithin(held.signal, 250)).toBeLessThan(200);
    expect((held.signal.reason as Error).name).toBe('TimeoutError');
    const late = requestSignal(client, 100, performance.now() - 500);
    expect(await abortsWithin(late.signal, 100)).toBeLessThan(50);
  });

  it('follows the client going away before the deadline', async () => {
    const { requestSignal } = await import('../src/deadline.js');
    const client = new AbortController();
    const { signal } = requestSignal(client.signal, 60_000);
    client.abort(new Error('client left'));
    expect(signal.aborted).toBe(true);
    expect((signal.reason as Error).message).toBe('client left');
  });
});
