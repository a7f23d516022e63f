/**
 * A client that sends its request body slowly cannot hold a request past the deadline: the gateway
 * process answers 408 and closes once LEADGRAPH_REQUEST_TIMEOUT_MS has passed since the request began.
 */
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type GatewayProcess, startGatewayProcess } from './support/process.js';

describe('a slowly sent body', () => {
  let gateway: GatewayProcess;
  beforeAll(async () => {
    gateway = await startGatewayProcess(process.execPath, ['--import', 'tsx', 'src/main.ts'], { LEADGRAPH_REQUEST_TIMEOUT_MS: '2000' });
  }, 30_000);
  afterAll(() => {
    gateway.child.kill('SIGKILL');
  });

  it('is cut off with 408 within the deadline and the server check interval', async () => {
    const { port } = new URL(gateway.url);
    const started = Date.now();
    const outcome = await new Promise<{ status: string; ms: number }>((resolve, reject) => {
      const socket = connect(Number(port), '127.0.0.1');
      let status = '';
      // One byte every 300 ms of a 100-byte body: it would take 30 s to arrive.
      const drip = setInterval(() => socket.write(' '), 300);
      const bound = setTimeout(() => reject(new Error('still open after 10 s')), 10_000);
      socket.on('data', (chunk) => {
        status ||= String(chunk).split('\r\n')[0] ?? '';
      });
      socket.on('error', () => undefined);
      socket.on('close', () => {
        clearInterval(drip);
        clearTimeout(bound);
        resolve({ status, ms: Date.now() - started });
      });
      socket.write(`POST /graphql HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{`);
    });
    expect(outcome.status).toBe('HTTP/1.1 408 Request Timeout');
    expect(outcome.ms).toBeGreaterThanOrEqual(1900);
    expect(outcome.ms).toBeLessThan(4500);
  });
});
