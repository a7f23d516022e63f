/**
 * The processes the benchmark drives: the built gateway (a child process, as `npm start` runs it, so its
 * RSS is its own) and the demo upstream alone in a child process (for the raw-upstream scenarios).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { freePort } from '../support/net.js';

/** BENCH_CPU_PROF=<dir>: each gateway writes a V8 CPU profile there when it stops (open it in Chrome DevTools). */
const CPU_PROFILE_DIR = process.env.BENCH_CPU_PROF;

/** The credentials and URL of a V4 demo account. */
export interface V4Account {
  readonly url: string;
  readonly clientId: string;
  readonly clientSecret: string;
  readonly workspaceId: string;
}

/** The body of `/ready` (src/plugins/operations.ts). */
export interface ReadyBody {
  readonly status: string;
  readonly index?: { readonly state: string; readonly leads: number };
}

export interface Gateway {
  readonly child: ChildProcess;
  /** The /graphql URL. */
  readonly url: string;
  /** When the process was spawned (performance.now()). */
  readonly spawnedAt: number;
  /** The process's high-water mark of resident memory (VmHWM), MB. */
  peakRssMb(): number;
  /** The process's resident memory now (VmRSS), MB. */
  rssMb(): number;
  /** `/ready`: its HTTP status and body. */
  ready(): Promise<{ status: number; body: ReadyBody }>;
  /** One sample of `/metrics` (the summed value of a metric's lines that match `labels`), or null when absent. */
  metric(name: string, labels?: string): Promise<number | null>;
  /** What the process has printed so far. */
  output(): string;
  stop(): Promise<void>;
}

const megabytes = (pid: number | undefined, field: 'VmHWM' | 'VmRSS'): number => {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)?.[1] ?? 0) / 1024;
};

/** Starts the built gateway (dist/main.js) against a V4 account; resolves once `/health` answers (at most 30 s). */
export async function startGateway(upstream: V4Account, env: Record<string, string>): Promise<Gateway> {
  const port = await freePort();
  const profile = CPU_PROFILE_DIR ? ['--cpu-prof', `--cpu-prof-dir=${CPU_PROFILE_DIR}`] : [];
  const spawnedAt = performance.now();
  const child = spawn(process.execPath, [...profile, '--enable-source-maps', 'dist/main.js'], {
    env: {
      PATH: process.env.PATH ?? '',
      PORT: String(port),
      LOG_LEVEL: 'warn',
      V4_CLIENT_ID: upstream.clientId,
      V4_CLIENT_SECRET: upstream.clientSecret,
      V4_WORKSPACE_ID: upstream.workspaceId,
      V4_API_URL: upstream.url,
      // The benchmark measures the gateway, not the budget: the demo upstream has no rate limit.
      LEADGRAPH_V4_RATE_PER_MIN: '1000000',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    output += String(chunk);
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    output += String(chunk);
  });
  const url = `http://127.0.0.1:${port}/graphql`;
  const origin = `http://127.0.0.1:${port}`;
  for (let attempt = 0; ; attempt += 1) {
    if (child.exitCode !== null || attempt > 300) throw new Error(`gateway did not start:\n${output}`);
    const healthy = await fetch(`${origin}/health`).then(
      (response) => response.ok,
      () => false,
    );
    if (healthy) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return {
    child,
    url,
    spawnedAt,
    peakRssMb: () => megabytes(child.pid, 'VmHWM'),
    rssMb: () => megabytes(child.pid, 'VmRSS'),
    ready: async () => {
      const response = await fetch(`${origin}/ready`);
      return { status: response.status, body: (await response.json()) as ReadyBody };
    },
    metric: async (name, labels = '') => {
      const text = await (await fetch(`${origin}/metrics`)).text();
      const lines = text.split('\n').filter((line) => line.startsWith(`${name}{`) || line.startsWith(`${name} `));
      const matching = lines.filter((line) => line.includes(labels));
      if (matching.length === 0) return null;
      return matching.reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(' ') + 1)), 0);
    },
    output: () => output,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
        setTimeout(() => child.kill('SIGKILL'), 6_000).unref();
      }),
  };
}

/** Polls `check` every `everyMs` until it returns a value, failing with `what` past `timeoutMs`. */
export async function poll<T>(check: () => Promise<T | null>, timeoutMs: number, what: string, everyMs = 20): Promise<T> {
  const limit = performance.now() + timeoutMs;
  while (performance.now() < limit) {
    const found = await check().catch(() => null);
    if (found !== null) return found;
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
  throw new Error(`${what}: not within ${timeoutMs} ms`);
}

export interface UpstreamProcess extends V4Account {
  stop(): Promise<void>;
}

/** The demo upstream in a child process (test/bench/upstream-process.ts), with `leads` generated leads (the demo's default when omitted). */
export async function startUpstreamProcess(leads?: number): Promise<UpstreamProcess> {
  const args = ['--import', 'tsx', 'test/bench/upstream-process.ts', ...(leads === undefined ? [] : [String(leads)])];
  const child = spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'inherit'] });
  const line = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the upstream process did not start within 60 s')), 60_000);
    let buffered = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      buffered += String(chunk);
      const end = buffered.indexOf('\n');
      if (end >= 0) {
        clearTimeout(timer);
        resolve(buffered.slice(0, end));
      }
    });
    child.once('exit', (code) => reject(new Error(`the upstream process exited (${code})`)));
  });
  const info = JSON.parse(line) as V4Account;
  return {
    ...info,
    stop: () =>
      new Promise<void>((resolve) => {
        child.once('exit', () => resolve());
        child.stdin?.end();
        setTimeout(() => child.kill('SIGKILL'), 5_000).unref();
      }),
  };
}
