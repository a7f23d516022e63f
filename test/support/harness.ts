/**
 * A test upstream (the demo upstream with test hooks) and a gateway, both real HTTP servers on
 * 127.0.0.1, wired the way main.ts wires them in production (config from env, undici Agent, V4
 * source). Typed operations go over HTTP.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { type ExecutionResult, print } from 'graphql';
import { pino } from 'pino';
import { loadConfig } from '../../src/config.js';
import { createGateway, type Gateway } from '../../src/server.js';
import type { LeadAdapter } from '../../src/sources/adapter.js';
import { createUpstreamAgent } from '../../src/transport/http.js';
import { startTestUpstream, type TestUpstream, type TestUpstreamOptions } from './test-upstream.js';

export interface Harness {
  readonly demo: TestUpstream;
  readonly gateway: Gateway;
  /** The gateway's GraphQL URL on loopback. */
  readonly url: string;
  /** Every log line the gateway wrote, as text. */
  readonly logs: string[];
  execute<R, V>(document: TypedDocumentNode<R, V>, variables?: V): Promise<ExecutionResult<R>>;
  post(body: unknown, headers?: Record<string, string>, signal?: AbortSignal): Promise<Response>;
  close(): Promise<void>;
}

export interface HarnessOptions {
  readonly demo?: TestUpstreamOptions;
  /** Extra environment for loadConfig (e.g. LEADGRAPH_UPSTREAM_PAGE_SIZE). */
  readonly env?: Record<string, string>;
  /** Reuse a running test upstream (it is not closed with the harness). */
  readonly upstream?: TestUpstream;
  /** Override the credentials the gateway sends (to test a wrong secret). */
  readonly credentials?: Partial<Record<'V4_CLIENT_ID' | 'V4_CLIENT_SECRET' | 'V4_WORKSPACE_ID' | 'V4_API_URL', string>>;
  /** Which API the gateway reads from the demo (default v4). */
  readonly api?: 'v4' | 'kommo';
  /** Wraps the source adapter of each request (to inject failures the transport cannot). */
  readonly wrapAdapter?: (adapter: LeadAdapter) => LeadAdapter;
}

export async function startHarness(options: HarnessOptions = {}): Promise<Harness> {
  const demo = options.upstream ?? (await startTestUpstream(options.demo));
  const upstream =
    options.api === 'kommo'
      ? { LEADGRAPH_SOURCE: 'kommo', KOMMO_BASE_URL: demo.url, KOMMO_TOKEN: demo.kommoToken }
      : { V4_CLIENT_ID: demo.clientId, V4_CLIENT_SECRET: demo.clientSecret, V4_WORKSPACE_ID: demo.workspaceId, V4_API_URL: demo.url };
  const config = loadConfig({
    ...upstream,
    LEADGRAPH_UPSTREAM_TIMEOUT_MS: '5000',
    // Tests count upstream calls: no cross-request cache and no budget unless a test turns them on.
    LEADGRAPH_CACHE_TTL_LEADS_SECONDS: '0',
    LEADGRAPH_CACHE_TTL_REFERENCE_SECONDS: '0',
    LEADGRAPH_V4_RATE_PER_MIN: '1000000',
    LEADGRAPH_KOMMO_RATE_PER_SEC: '1000',
    LEADGRAPH_RETRY_BACKOFF_MS: '10',
    // The pass-through path, as with LEADGRAPH_INDEX=off: tests of the lead index turn it on.
    LEADGRAPH_INDEX: 'off',
    ...options.env,
    ...options.credentials,
  });
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk, _encoding, done) {
      logs.push(String(chunk));
      done();
    },
  });
  const logger = pino({ level: 'debug' }, sink);
  const dispatcher = createUpstreamAgent(config.upstreamTimeoutMs);
  const gateway = createGateway(config, { dispatcher, logger, wrapAdapter: options.wrapAdapter });
  const server: Server = createServer(gateway.listener);
  gateway.attachWebSockets(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/graphql`;

  const post = (body: unknown, headers: Record<string, string> = {}, signal?: AbortSignal) =>
    fetch(url, {
      method: 'POST',
      signal,
      headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json', ...headers },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });

  return {
    demo,
    gateway,
    url,
    logs,
    post,
    async execute(document, variables) {
      const response = await post({ query: print(document), variables });
      return (await response.json()) as ExecutionResult<never>;
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await dispatcher.close();
      await gateway.close();
      if (!options.upstream) await demo.close();
    },
  };
}

/** The leads a correct gateway returns, computed straight from the demo rows: adjacent rows merged, tags unioned. */
export function expectedLeads(
  demo: TestUpstream,
  keep: (row: Record<string, unknown>) => boolean = (row) => row.is_deleted !== true,
): { kommoId: string; tagIds: string[] }[] {
  const leads: { kommoId: string; tagIds: string[]; row: Record<string, unknown> }[] = [];
  for (const row of demo.data.leadRows) {
    const last = leads.at(-1);
    const tagId = row.tag_id === null ? null : String(row.tag_id);
    if (last && last.kommoId === row.lead_id) {
      if (tagId && !last.tagIds.includes(tagId)) last.tagIds.push(tagId);
      continue;
    }
    leads.push({ kommoId: String(row.lead_id), tagIds: tagId ? [tagId] : [], row });
  }
  return leads.filter((lead) => keep(lead.row)).map(({ kommoId, tagIds }) => ({ kommoId, tagIds }));
}
