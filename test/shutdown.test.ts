import type { ChildProcess } from 'node:child_process';
import { Agent, request } from 'node:http';
import { afterAll, describe, expect, it } from 'vitest';
import { startGatewayProcess } from './support/process.js';
import { startTestUpstream } from './support/test-upstream.js';

/** The gateway as `npm start` runs it (src/main.ts), on a free port, against `env`. */
const startGateway = (env: Record<string, string>) => startGatewayProcess(process.execPath, ['--import', 'tsx', 'src/main.ts'], env);

/** One HTTP request with an explicit agent (to keep a connection alive); resolves with status, headers and body. */
function send(url: string, agent: Agent, body?: string) {
  return new Promise<{ status: number; connection: string | undefined; body: string }>((resolve, reject) => {
    const call = request(
      url,
      { method: body ? 'POST' : 'GET', agent, headers: body ? { 'content-type': 'application/json' } : {} },
      (response) => {
        let text = '';
        response.on('data', (chunk) => {
          text += String(chunk);
        });
        response.on('end', () => resolve({ status: response.statusCode ?? 0, connection: response.headers.connection, body: text }));
      },
    );
    call.on('error', reject);
    call.setTimeout(15_000, () => call.destroy(new Error('timed out')));
    call.end(body);
  });
}

describe('shutting down', () => {
  const children: ChildProcess[] = [];
  afterAll(() => {
    for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
  });

  it('answers /ready with 503 while a request drains, finishes it, and does not wait for idle keep-alive connections', async () => {
    const upstream = await startTestUpstream({ leads: 30 });
    const gateway = await startGateway({
      V4_CLIENT_ID: upstream.clientId,
      V4_CLIENT_SECRET: upstream.clientSecret,
      V4_WORKSPACE_ID: upstream.workspaceId,
      V4_API_URL: upstream.url,
      LEADGRAPH_CACHE_TTL_LEADS_SECONDS: '0',
    });
    children.push(gateway.child);
    const idle = new Agent({ keepAlive: true });
    try {
      expect((await send(gateway.url.replace('/graphql', '/ready'), idle)).status).toBe(200); // leaves an idle keep-alive connection
      upstream.setLatency(1_500);
      const slow = send(gateway.url, new Agent(), JSON.stringify({ query: '{ leads(first: 2) { edges { node { kommoId } } } }' }));
      await new Promise((resolve) => setTimeout(resolve, 300)); // the query is waiting upstream now
      const exited = new Promise<number | null>((resolve) => gateway.child.on('exit', resolve));
      gateway.child.kill('SIGTERM');
      await new Promise((resolve) => setTimeout(resolve, 200));
      const ready = await send(gateway.url.replace('/graphql', '/ready'), new Agent());
      expect(ready.status).toBe(503);
      expect(JSON.parse(ready.body)).toMatchObject({ status: 'draining' });
      expect(ready.connection).toBe('close');
      const answer = await slow;
      expect(answer.status).toBe(200);
      expect(JSON.parse(answer.body).data.leads.edges).toHaveLength(2);
      // The idle keep-alive connection does not hold the exit until a grace period runs out.
      const code = await Promise.race([exited, new Promise((resolve) => setTimeout(() => resolve('still running'), 10_000))]);
      expect(code).toBe(0);
      expect(gateway.output()).toMatch(/shutting down: readiness now answers 503/);
    } finally {
      idle.destroy();
      await upstream.close();
    }
  });
});
