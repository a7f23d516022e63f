/** A real redis-server on a free loopback port, for the replica tests; absent when it is not installed. */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { freePort } from './net.js';

export const REDIS_MISSING =
  spawnSync('redis-server', ['--version']).status === 0 ? null : 'redis-server is not installed (apt-get install redis-server)';

export interface RedisProcess {
  readonly url: string;
  start(): Promise<void>;
  stop(): Promise<void>;
}

export async function startRedis(): Promise<RedisProcess> {
  const port = await freePort();
  let child: ChildProcess | null = null;
  const start = async (): Promise<void> => {
    const started = spawn(
      'redis-server',
      ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--enable-debug-command', 'yes'],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    child = started;
    let output = '';
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`redis-server did not start:\n${output}`)), 10_000);
      started.stdout?.on('data', (chunk: Buffer) => {
        output += String(chunk);
        if (output.includes('Ready to accept connections')) {
          clearTimeout(timer);
          resolve();
        }
      });
      started.on('exit', () => reject(new Error(`redis-server exited:\n${output}`)));
    });
  };
  await start();
  return {
    url: `redis://127.0.0.1:${port}/0`,
    start,
    stop: () =>
      new Promise<void>((resolve) => {
        const running = child;
        // A killed process has a signalCode and no exitCode: stopping it again must not wait for another exit.
        if (!running || running.exitCode !== null || running.signalCode !== null) {
          resolve();
          return;
        }
        running.once('exit', () => resolve());
        running.kill('SIGKILL');
      }),
  };
}
