import type { ChildProcess } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { startGatewayProcess } from './support/process.js';

/** Runs the README's `npm start` (build, then the built gateway) on a free port and waits for its ready line. */
const start = (env: Record<string, string>) =>
  startGatewayProcess('npm', ['start', '--silent'], { LEADGRAPH_INDEX: 'on', LEADGRAPH_WARM_UP: 'true', ...env }, { detached: true });

describe('npm start with nothing configured', () => {
  const children: ChildProcess[] = [];
  afterAll(() => {
    for (const child of children) if (child.exitCode === null && child.pid) process.kill(-child.pid, 'SIGKILL');
  });

  it('serves the embedded demo upstream, says so, answers queries and shuts down on SIGTERM', async () => {
    const { child, url, output } = await start({});
    children.push(child);
    expect(output()).toMatch(/serving the embedded demo upstream/);
    const response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: '{ leads(first: 2) { edges { node { kommoId pipeline { name } } } } }' }),
    });
    const body = (await response.json()) as { data: { leads: { edges: { node: { kommoId: string } }[] } } };
    expect(body.data.leads.edges.map((edge) => edge.node.kommoId)).toEqual(['20000001', '20000002']);
    // 'close' fires once every holder of the output pipe is gone: npm and the gateway it started.
    const exit = new Promise<[number | null, string | null]>((resolve) => child.on('close', (code, signal) => resolve([code, signal])));
    process.kill(-(child.pid as number), 'SIGTERM'); // npm and the gateway it started
    const [code, signal] = await exit;
    expect(code === 0 || signal === 'SIGTERM').toBe(true);
    expect(output()).toMatch(/shutting down: readiness now answers 503/);
  });
});
