/** One row of the benchmark table: an autocannon run, with the upstream calls it caused and the gateway's RSS. */
import autocannon from 'autocannon';
import type { TestUpstream } from '../support/test-upstream.js';

export const DURATION = Number(process.env.BENCH_SECONDS ?? 10);
/** Unmeasured load before each scenario, so V8 has optimized the hot path of either side. */
export const WARM_UP = Number(process.env.BENCH_WARMUP_SECONDS ?? 2);
export const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 10);

export interface Row {
  scenario: string;
  requestsPerSecond: number;
  p50: number;
  p99: number;
  callsPerRequest: number;
  peakRssMb: number | null;
  errors: number;
}

export async function load(options: autocannon.Options): Promise<autocannon.Result> {
  return await autocannon({ duration: DURATION, connections: CONNECTIONS, ...options });
}

export interface Measured extends Row {
  /** Upstream calls during the measured run (not the warm-up). */
  readonly calls: number;
}

/** One autocannon run; `demo` counts upstream calls (null: the target is the upstream itself, 1 call each). */
export async function measure(
  name: string,
  demo: TestUpstream | null,
  options: autocannon.Options,
  rss: (() => number) | null,
  warmUp = false,
): Promise<Measured> {
  if (warmUp && WARM_UP > 0) await load({ ...options, duration: WARM_UP });
  demo?.reset();
  const result = await load(options);
  const calls = demo ? demo.count() : result.requests.sent;
  return {
    scenario: name,
    requestsPerSecond: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    // Per request sent: the last request a run cuts off has made its upstream calls but never completes.
    callsPerRequest: calls / Math.max(1, result.requests.sent),
    peakRssMb: rss ? rss() : null,
    errors: result.errors + result.non2xx,
    calls,
  };
}

/** What a browser sends: the warm scenarios measure the compressed answers, unless `identity`. */
export const BROWSER_ENCODINGS = 'gzip, deflate, br, zstd';

export const post = (query: string, acceptEncoding: string | null = BROWSER_ENCODINGS, variables?: Record<string, unknown>) => ({
  method: 'POST' as const,
  headers: { 'content-type': 'application/json', ...(acceptEncoding ? { 'accept-encoding': acceptEncoding } : {}) },
  body: JSON.stringify(variables ? { query, variables } : { query }),
});

/** One GraphQL request; fails on errors in the answer. */
export async function graphql<T = unknown>(url: string, query: string, variables?: Record<string, unknown>): Promise<T> {
  const response = await fetch(url, { ...post(query, null, variables) });
  const body = (await response.json()) as { data?: T; errors?: unknown[] };
  if (body.errors) throw new Error(`bench query failed: ${JSON.stringify(body.errors).slice(0, 500)}`);
  return body.data as T;
}
