import { type ChildProcess, spawn } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';

/** Runs the README's `npm start` (build, then the built gateway) on a free port and waits for its ready line. */
async function start(env: Record<string, string>): Promise<{ child: ChildProcess; url: string; output: () => string }> {
  const child = spawn('npm', ['start', '--silent'], {
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let output = '';
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ready line in 20 s:\n${output}`)), 20_000);
    const onData = (chunk: Buffer) => {
      output += String(chunk);
      const match = /"url":"(http:\/\/127\.0\.0\.1:\d+\/graphql)"/.exec(output);
      if (match?.[1]) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.on('exit', () => reject(new Error(`exited early:\n${output}`)));
  });
  return { child, url, output: () => output };
}

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
