/**
 * `npm run bench`: the demo upstream (in this process) and the gateway (a child process, so its peak
 * RSS is its own) on loopback, driven by autocannon. Prints and writes a markdown table of requests/s,
 * p50/p99 latency, upstream calls per request and the gateway's peak RSS, with the target ratios.
 * Absolute numbers depend on the machine; the ratios are measured in one run on one machine.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import autocannon from 'autocannon';
import { freePort, rawRequest } from '../support/net.js';
import { startTestUpstream, type TestUpstream } from '../support/test-upstream.js';

const DURATION = Number(process.env.BENCH_SECONDS ?? 10);
/** Unmeasured load before each scenario, so V8 has optimized the hot path of either side. */
const WARM_UP = Number(process.env.BENCH_WARMUP_SECONDS ?? 2);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 10);
const BIG_CONNECTIONS = 50;
const LATENCY_MS = Number(process.env.BENCH_UPSTREAM_LATENCY_MS ?? 100);
const OUTPUT = 'test/bench/results.md';
/** BENCH_CPU_PROF=<dir>: each gateway writes a V8 CPU profile there when it stops (open it in Chrome DevTools). */
const CPU_PROFILE_DIR = process.env.BENCH_CPU_PROF;

const PAGE_50 = `{ leads(first: 50) { edges { node { kommoId name price createdAt
  pipeline { name } status { name kind } responsibleUser { name email } tags { name color }
  customFields { fieldId name values { value enumId } } } } } }`;
const PAGE_250 = `{ leads(first: 250) { pageInfo { hasNextPage endCursor } edges { cursor node { id kommoId name price groupId
  score laborCostSeconds createdAt updatedAt closedAt closestTaskAt isDeleted
  pipeline { kommoId name isMain } status { kommoId name kind color } responsibleUser { kommoId name email isActive }
  createdBy { name } updatedBy { name } lossReason { name } source { name } contacts { kommoId } tags { kommoId name color }
  customFields { fieldId name code type values { value enumId enumCode } } } } } }`;

interface Gateway {
  child: ChildProcess;
  url: string;
  peakRssMb(): number;
  stop(): Promise<void>;
}

async function startGateway(demo: TestUpstream, env: Record<string, string>): Promise<Gateway> {
  const port = await freePort();
  // The built gateway, as `npm start` runs it.
  const profile = CPU_PROFILE_DIR ? ['--cpu-prof', `--cpu-prof-dir=${CPU_PROFILE_DIR}`] : [];
  const child = spawn(process.execPath, [...profile, '--enable-source-maps', 'dist/main.js'], {
    env: {
      PATH: process.env.PATH ?? '',
      PORT: String(port),
      LOG_LEVEL: 'warn',
      V4_CLIENT_ID: demo.clientId,
      V4_CLIENT_SECRET: demo.clientSecret,
      V4_WORKSPACE_ID: demo.workspaceId,
      V4_API_URL: demo.url,
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
  for (let attempt = 0; ; attempt += 1) {
    if (child.exitCode !== null || attempt > 300) throw new Error(`gateway did not start:\n${output}`);
    const healthy = await fetch(url.replace('/graphql', '/health')).then(
      (response) => response.ok,
      () => false,
    );
    if (healthy) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return {
    child,
    url,
    peakRssMb: () => {
      const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
      const kb = Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? 0);
      return kb / 1024;
    },
    stop: () =>
      new Promise<void>((resolve) => {
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
        setTimeout(() => child.kill('SIGKILL'), 6_000).unref();
      }),
  };
}

interface UpstreamProcess {
  url: string;
  clientId: string;
  clientSecret: string;
  workspaceId: string;
  stop(): Promise<void>;
}

/** The demo upstream in a child process (test/bench/upstream-process.ts). */
async function startUpstreamProcess(): Promise<UpstreamProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'test/bench/upstream-process.ts'], { stdio: ['pipe', 'pipe', 'inherit'] });
  const line = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the upstream process did not start within 30 s')), 30_000);
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
  const info = JSON.parse(line) as Omit<UpstreamProcess, 'stop'>;
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

interface Row {
  scenario: string;
  requestsPerSecond: number;
  p50: number;
  p99: number;
  callsPerRequest: number;
  peakRssMb: number | null;
  errors: number;
}

async function load(options: autocannon.Options): Promise<autocannon.Result> {
  return await autocannon({ duration: DURATION, connections: CONNECTIONS, ...options });
}

async function graphql(url: string, query: string): Promise<unknown> {
  const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query }) });
  const body = (await response.json()) as { errors?: unknown[] };
  if (body.errors) throw new Error(`bench query failed: ${JSON.stringify(body.errors).slice(0, 500)}`);
  return body;
}

/** One autocannon run; `demo` counts upstream calls (null: the target is the upstream itself, 1 call each). */
async function measure(
  name: string,
  demo: TestUpstream | null,
  options: autocannon.Options,
  rss: (() => number) | null,
  warmUp = false,
): Promise<Row> {
  if (warmUp && WARM_UP > 0) await load({ ...options, duration: WARM_UP });
  demo?.reset();
  const result = await load(options);
  return {
    scenario: name,
    requestsPerSecond: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    // Per request sent: the last request a run cuts off has made its upstream calls but never completes.
    callsPerRequest: demo ? demo.count() / Math.max(1, result.requests.sent) : 1,
    peakRssMb: rss ? rss() : null,
    errors: result.errors + result.non2xx,
  };
}

/** What a browser sends: the warm scenarios measure the compressed answers, unless `identity`. */
const BROWSER_ENCODINGS = 'gzip, deflate, br, zstd';
const post = (query: string, acceptEncoding: string | null = BROWSER_ENCODINGS) => ({
  method: 'POST' as const,
  headers: { 'content-type': 'application/json', ...(acceptEncoding ? { 'accept-encoding': acceptEncoding } : {}) },
  body: JSON.stringify({ query }),
});

/** Bytes on the wire of one body, as the gateway sends it for an Accept-Encoding. */
async function wireBytes(url: string, init: { method?: string; headers?: Record<string, string>; body?: string }, encoding: string | null) {
  const response = await rawRequest(url, { ...init, headers: { ...init.headers, ...(encoding ? { 'accept-encoding': encoding } : {}) } });
  return response.body.length;
}

/** A first visit to GraphiQL: the page and every asset it names, for each encoding. */
async function graphiqlBytes(url: string): Promise<string> {
  const page = await rawRequest(url, { headers: { accept: 'text/html' } });
  const assets = [...page.body.toString('utf8').matchAll(/(?:src|href)="(\/graphiql\/[^"]+)"/g)].map((match) => match[1] as string);
  const origin = new URL(url).origin;
  const parts: string[] = [];
  for (const encoding of [null, 'gzip', 'br']) {
    let total = await wireBytes(url, { headers: { accept: 'text/html' } }, encoding);
    for (const path of assets) total += await wireBytes(`${origin}${path}`, {}, encoding);
    parts.push(`${encoding ?? 'identity'} ${(total / 1e6).toFixed(2)} MB`);
  }
  return `GraphiQL, first visit (page + ${assets.length} assets) on the wire: ${parts.join(', ')}; a later visit: the ${page.body.length}-byte page (the assets are immutable).`;
}

async function main(): Promise<void> {
  execFileSync('npm', ['run', 'build', '--silent'], { stdio: 'inherit' });
  const demo = await startTestUpstream();
  const rows: Row[] = [];
  const notes: string[] = [];

  // 1. Raw upstream: the same 50-lead page straight from the demo's REST endpoint. That demo runs in its
  // own process, as the gateway does: in this process it would share an event loop with autocannon.
  const upstream = await startUpstreamProcess();
  rows.push(
    await measure(
      '1. Raw upstream (own process): GET /v1/kommo/leads?limit=50',
      null,
      {
        url: `${upstream.url}/v1/kommo/leads?workspaceId=${upstream.workspaceId}&page=1&limit=50`,
        headers: { 'x-client-id': upstream.clientId, 'x-client-secret': upstream.clientSecret },
      },
      null,
      true,
    ),
  );
  await upstream.stop();

  // 2 and 4: one warm gateway (default caches).
  const warm = await startGateway(demo, {});
  demo.reset();
  await graphql(warm.url, PAGE_50);
  const coldFirst = { leads: demo.count('leads'), pipelines: demo.count('pipelines'), users: demo.count('users') };
  notes.push(
    `First (cold) request of scenario 2: ${coldFirst.leads} leads block + ${coldFirst.pipelines} pipelines + ${coldFirst.users} users upstream calls.`,
  );
  rows.push(
    await measure(
      '2. Warm gateway: leads(first: 50), nested fields, brotli (Accept-Encoding of a browser)',
      demo,
      { url: warm.url, ...post(PAGE_50) },
      warm.peakRssMb,
      true,
    ),
  );
  rows.push(
    await measure('2b. The same, no Accept-Encoding (uncompressed)', demo, { url: warm.url, ...post(PAGE_50, null) }, warm.peakRssMb, true),
  );
  const pageBody = post(PAGE_50, null);
  notes.push(
    `The answer of scenario 2 on the wire: ${await wireBytes(warm.url, pageBody, null)} bytes uncompressed, ${await wireBytes(warm.url, pageBody, 'gzip')} gzip, ${await wireBytes(warm.url, pageBody, 'br')} brotli.`,
  );
  await graphql(warm.url, PAGE_250);
  rows.push(
    await measure(
      `4. Big page: leads(first: 250), everything, ${BIG_CONNECTIONS} connections`,
      demo,
      { url: warm.url, connections: BIG_CONNECTIONS, ...post(PAGE_250) },
      warm.peakRssMb,
      true,
    ),
  );
  // After scenario 4: building GraphiQL's assets raises the process's RSS high-water mark by some 40 MB.
  notes.push(await graphiqlBytes(warm.url));
  await warm.stop();

  // 3. Cold gateway, caches off, every upstream response delayed. Latency is measured one request at a
  // time, against one measured upstream round trip: the same 500-row block fetched straight from the
  // delayed upstream.
  const cold = await startGateway(demo, {
    LEADGRAPH_CACHE_TTL_LEADS_SECONDS: '0',
    LEADGRAPH_CACHE_TTL_REFERENCE_SECONDS: '0',
    LEADGRAPH_RESPONSE_CACHE_ENTRIES: '0',
  });
  demo.setLatency(LATENCY_MS);
  // The steady state is measured below (after a warm-up, like every scenario); the very first request,
  // which also opens the upstream connections, is reported on its own.
  const firstStarted = performance.now();
  await graphql(cold.url, PAGE_50);
  notes.push(
    `First request to the cold gateway of scenario 3 (new upstream connections, code V8 has not optimized yet): ${(performance.now() - firstStarted).toFixed(0)} ms.`,
  );
  const roundTrip = await measure(
    `One upstream round trip: GET leads block (limit=500), latency ${LATENCY_MS} ms, 1 connection`,
    null,
    {
      url: `${demo.url}/v1/kommo/leads?workspaceId=${demo.workspaceId}&page=1&limit=500`,
      headers: { 'x-client-id': demo.clientId, 'x-client-secret': demo.clientSecret },
      connections: 1,
    },
    null,
    true,
  );
  rows.splice(
    3,
    0,
    await measure(
      `3. Cold gateway, upstream latency ${LATENCY_MS} ms, caches off, 1 connection`,
      demo,
      { url: cold.url, connections: 1, ...post(PAGE_50) },
      cold.peakRssMb,
      true,
    ),
  );
  rows.push(roundTrip);
  demo.setLatency(0);
  await cold.stop();
  await demo.close();

  const [raw, warmRow, warmIdentity, coldRow, big] = rows as [Row, Row, Row, Row, Row];
  const throughputRatio = warmRow.requestsPerSecond / raw.requestsPerSecond;
  notes.push(
    `Warm throughput against the raw upstream: ${(throughputRatio * 100).toFixed(0)}% compressed (2), ${((warmIdentity.requestsPerSecond / raw.requestsPerSecond) * 100).toFixed(0)}% uncompressed (2b).`,
  );
  const latencyRatio = coldRow.p50 / roundTrip.p50;
  const verdict = (ok: boolean) => (ok ? 'met' : '**missed**');
  const table = [
    '| Scenario | req/s | p50 ms | p99 ms | upstream calls / request | gateway peak RSS MB | errors |',
    '|---|---:|---:|---:|---:|---:|---:|',
    ...rows.map(
      (row) =>
        `| ${row.scenario} | ${row.requestsPerSecond.toFixed(0)} | ${row.p50.toFixed(1)} | ${row.p99.toFixed(1)} | ${row.callsPerRequest.toFixed(2)} | ${
          row.peakRssMb === null ? '' : row.peakRssMb.toFixed(0)
        } | ${row.errors} |`,
    ),
    '',
    '| Target | Measured | |',
    '|---|---:|---|',
    `| Warm throughput (2) at least 50% of raw upstream (1) | ${(throughputRatio * 100).toFixed(0)}% | ${verdict(throughputRatio >= 0.5)} |`,
    `| Cold p50 latency (3) at most 1.2x one upstream round trip (${roundTrip.p50.toFixed(0)} ms, last row) | ${latencyRatio.toFixed(2)}x | ${verdict(latencyRatio <= 1.2)} |`,
    `| Upstream calls, first request of (2): blocks + 1 pipelines + 1 users at most | ${coldFirst.leads} + ${coldFirst.pipelines} + ${coldFirst.users} | ${verdict(coldFirst.pipelines <= 1 && coldFirst.users <= 1)} |`,
    `| Upstream calls per warm request (2) | ${warmRow.callsPerRequest.toFixed(2)} | ${verdict(warmRow.callsPerRequest === 0)} |`,
    `| Peak RSS under (4) at ${BIG_CONNECTIONS} connections below 300 MB | ${(big.peakRssMb ?? 0).toFixed(0)} MB | ${verdict((big.peakRssMb ?? 0) < 300)} |`,
  ].join('\n');
  const report = [
    `Measured ${new Date().toISOString().slice(0, 10)} on ${process.platform}/${process.arch}, Node ${process.version}, ${DURATION} s per scenario, ${CONNECTIONS} connections unless noted.`,
    '',
    table,
    '',
    ...notes,
  ].join('\n');
  writeFileSync(OUTPUT, `${report}\n`);
  console.log(report);
  console.log(`\nwritten to ${OUTPUT}`);
}

await main();
