/**
 * `npm run bench`: the demo upstream (in this process) and the gateway (a child process, so its peak
 * RSS is its own) on loopback, driven by autocannon. Prints and writes a markdown table of requests/s,
 * p50/p99 latency, upstream calls per request and the gateway's peak RSS, with the target ratios.
 * Absolute numbers depend on the machine; the ratios are measured in one run on one machine.
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { rawRequest } from '../support/net.js';
import { startTestUpstream, type TestUpstream } from '../support/test-upstream.js';
import { firstQueryScenarios, indexScenarios, type Target } from './index-scenarios.js';
import { CONNECTIONS, DURATION, graphql, measure, post, type Row } from './measure.js';
import { startGateway, startUpstreamProcess } from './processes.js';

const BIG_CONNECTIONS = 50;
const LATENCY_MS = Number(process.env.BENCH_UPSTREAM_LATENCY_MS ?? 100);
const OUTPUT = 'test/bench/results.md';
/** BENCH_ONLY=index: only the lead index scenarios (5 to 10); BENCH_ONLY=pass-through: only 1 to 4. */
const ONLY = process.env.BENCH_ONLY;

const PAGE_50 = `{ leads(first: 50) { edges { node { kommoId name price createdAt
  pipeline { name } status { name kind } responsibleUser { name email } tags { name color }
  customFields { fieldId name values { value enumId } } } } } }`;
const PAGE_250 = `{ leads(first: 250) { pageInfo { hasNextPage endCursor } edges { cursor node { id kommoId name price groupId
  score laborCostSeconds createdAt updatedAt closedAt closestTaskAt isDeleted
  pipeline { kommoId name isMain } status { kommoId name kind color } responsibleUser { kommoId name email isActive }
  createdBy { name } updatedBy { name } lossReason { name } source { name } contacts { kommoId } tags { kommoId name color }
  customFields { fieldId name code type values { value enumId enumCode } } } } } }`;

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

interface Part {
  readonly rows: Row[];
  readonly targets: Target[];
  readonly notes: string[];
}

/** One upstream round trip: the 500-row block scenario 3 needs, straight from the delayed upstream. */
async function roundTrip(demo: TestUpstream): Promise<Row> {
  demo.setLatency(LATENCY_MS);
  const row = await measure(
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
  demo.setLatency(0);
  return row;
}

/** Scenarios 1 to 4: pass-through and caches over the default 3,000-lead demo tenant. */
async function passThroughScenarios(demo: TestUpstream, trip: Row): Promise<Part> {
  const notes: string[] = [];

  // 1. Raw upstream: the same 50-lead page straight from the demo's REST endpoint. That demo runs in its
  // own process, as the gateway does: in this process it would share an event loop with autocannon.
  const upstream = await startUpstreamProcess();
  const raw = await measure(
    '1. Raw upstream (own process): GET /v1/kommo/leads?limit=50',
    null,
    {
      url: `${upstream.url}/v1/kommo/leads?workspaceId=${upstream.workspaceId}&page=1&limit=50`,
      headers: { 'x-client-id': upstream.clientId, 'x-client-secret': upstream.clientSecret },
    },
    null,
    true,
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
  const warmRow = await measure(
    '2. Warm gateway: leads(first: 50), nested fields, brotli (Accept-Encoding of a browser)',
    demo,
    { url: warm.url, ...post(PAGE_50) },
    warm.peakRssMb,
    true,
  );
  const warmIdentity = await measure(
    '2b. The same, no Accept-Encoding (uncompressed)',
    demo,
    { url: warm.url, ...post(PAGE_50, null) },
    warm.peakRssMb,
    true,
  );
  const pageBody = post(PAGE_50, null);
  notes.push(
    `The answer of scenario 2 on the wire: ${await wireBytes(warm.url, pageBody, null)} bytes uncompressed, ${await wireBytes(warm.url, pageBody, 'gzip')} gzip, ${await wireBytes(warm.url, pageBody, 'br')} brotli.`,
  );
  await graphql(warm.url, PAGE_250);
  const big = await measure(
    `4. Big page: leads(first: 250), everything, ${BIG_CONNECTIONS} connections`,
    demo,
    { url: warm.url, connections: BIG_CONNECTIONS, ...post(PAGE_250) },
    warm.peakRssMb,
    true,
  );
  // After scenario 4: building GraphiQL's assets raises the process's RSS high-water mark by some 40 MB.
  notes.push(await graphiqlBytes(warm.url));
  await warm.stop();

  // 3. Cold gateway, caches off, every upstream response delayed. Latency is measured one request at a
  // time, against one measured upstream round trip (the round trip row).
  // Pass-through (index off): with the index on, its first read would answer from memory, no upstream call.
  const cold = await startGateway(demo, {
    LEADGRAPH_INDEX: 'off',
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
    `First request to the cold gateway of scenario 3 (sent as soon as /health answers, before /ready: new upstream connections, code V8 has not optimized yet): ${(performance.now() - firstStarted).toFixed(0)} ms.`,
  );
  const coldRow = await measure(
    `3. Cold gateway, upstream latency ${LATENCY_MS} ms, caches off, index off (pass-through), 1 connection`,
    demo,
    { url: cold.url, connections: 1, ...post(PAGE_50) },
    cold.peakRssMb,
    true,
  );
  demo.setLatency(0);
  await cold.stop();

  const throughputRatio = warmRow.requestsPerSecond / raw.requestsPerSecond;
  notes.push(
    `Warm throughput against the raw upstream: ${(throughputRatio * 100).toFixed(0)}% compressed (2), ${((warmIdentity.requestsPerSecond / raw.requestsPerSecond) * 100).toFixed(0)}% uncompressed (2b).`,
  );
  const latencyRatio = coldRow.p50 / trip.p50;
  const targets: Target[] = [
    {
      target: 'Warm throughput (2) at least 50% of raw upstream (1)',
      measured: `${(throughputRatio * 100).toFixed(0)}%`,
      met: throughputRatio >= 0.5,
    },
    {
      target: `Cold p50 latency (3) at most 1.2x one upstream round trip (${trip.p50.toFixed(0)} ms, the round trip row)`,
      measured: `${latencyRatio.toFixed(2)}x`,
      met: latencyRatio <= 1.2,
    },
    {
      target: 'Upstream calls, first request of (2): blocks + 1 pipelines + 1 users at most',
      measured: `${coldFirst.leads} + ${coldFirst.pipelines} + ${coldFirst.users}`,
      met: coldFirst.pipelines <= 1 && coldFirst.users <= 1,
    },
    { target: 'Upstream calls per warm request (2)', measured: warmRow.callsPerRequest.toFixed(2), met: warmRow.callsPerRequest === 0 },
    {
      target: `Peak RSS under (4) at ${BIG_CONNECTIONS} connections below 300 MB`,
      measured: `${(big.peakRssMb ?? 0).toFixed(0)} MB`,
      met: (big.peakRssMb ?? 0) < 300,
    },
  ];
  return { rows: [raw, warmRow, warmIdentity, coldRow, big], targets, notes };
}

/** A cell of the table: blank where a scenario has no such figure (NaN). */
const cell = (value: number | null, digits: number): string => (value === null || Number.isNaN(value) ? '' : value.toFixed(digits));

async function main(): Promise<void> {
  execFileSync('npm', ['run', 'build', '--silent'], { stdio: 'inherit' });
  const demo = await startTestUpstream();
  const trip = await roundTrip(demo);
  const parts: Part[] = [];
  if (ONLY !== 'index') parts.push(await passThroughScenarios(demo, trip));
  parts.push({ rows: [trip], targets: [], notes: [] });
  if (ONLY !== 'pass-through') {
    parts.push(await indexScenarios());
    parts.push(await firstQueryScenarios(demo, LATENCY_MS, trip.p50));
  }
  await demo.close();

  const rows = parts.flatMap((part) => part.rows);
  const targets = parts.flatMap((part) => part.targets);
  const notes = parts.flatMap((part) => part.notes);
  const table = [
    '| Scenario | req/s | p50 ms | p99 ms | upstream calls / request | gateway RSS MB | errors |',
    '|---|---:|---:|---:|---:|---:|---:|',
    ...rows.map(
      (row) =>
        `| ${row.scenario} | ${cell(row.requestsPerSecond, 0)} | ${cell(row.p50, 1)} | ${cell(row.p99, 1)} | ${cell(row.callsPerRequest, 2)} | ${cell(
          row.peakRssMb,
          0,
        )} | ${row.errors} |`,
    ),
    '',
    '| Target | Measured | |',
    '|---|---:|---|',
    ...targets.map((target) => `| ${target.target} | ${target.measured} | ${target.met ? 'met' : '**missed**'} |`),
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
