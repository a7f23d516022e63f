/** Configuration, the embedded demo upstream when nothing is configured, listen, shut down (started by main.ts). */
import { createServer } from 'node:http';
import { pino } from 'pino';
import { type Config, ConfigError, loadConfig } from './config.js';
import { type DemoUpstream, startDemoUpstream } from './demo/server.js';
import { GRAPHQL_PATH } from './routes.js';
import { createGateway } from './server.js';
import { profileOf } from './sources/profiles.js';
import { createUpstreamAgent } from './transport/http.js';

/** How often the shutdown checks for requests still in flight, and its margin past the request deadline. */
const SHUTDOWN_POLL_MS = 50;
const SHUTDOWN_MARGIN_MS = 2_000;
/** The longest /ready waits at start for the lead index's first read (the warm-up); pass-through serves meanwhile. */
const WARM_UP_INDEX_WAIT_MS = 60_000;

export async function serve(): Promise<void> {
  let config: Config;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`leadgraph: invalid configuration: ${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }
  const logger = pino({ level: config.logLevel, base: { service: 'leadgraph' } });

  const profile = profileOf(config.source);
  let demo: DemoUpstream | null = null;
  if (config.upstream === 'demo') {
    demo = await startDemoUpstream({ leads: config.demoLeads });
    config = { ...config, source: profile.withDemo(config.source, demo) };
    logger.info(
      { upstream: demo.url, api: profile.kind, leads: demo.account.leads.length },
      `No ${profile.upstreamName} credentials set (${profile.credentialVariables.join(', ')}): serving the embedded demo upstream with generated data`,
    );
  } else {
    logger.info({ upstream: profile.baseUrl(config.source), api: profile.kind }, `Serving the ${profile.upstreamName}`);
  }

  const dispatcher = createUpstreamAgent(config.upstreamTimeoutMs);
  const gateway = createGateway(config, { dispatcher, logger });
  // A client that sends its body slowly cannot hold a request past the deadline (Node's default allows 300 s):
  // the whole request, body included, must have arrived within the deadline.
  const server = createServer(
    {
      requestTimeout: config.requestTimeoutMs,
      headersTimeout: Math.min(config.requestTimeoutMs, 60_000),
      // Node checks those timeouts this often (30 s by default, which would let a slow body run that much longer).
      connectionsCheckingInterval: 1000,
    },
    gateway.listener,
  );
  // Subscriptions over WebSocket (graphql-ws) on the same /graphql path; SSE needs nothing more.
  gateway.attachWebSockets(server);
  server.on('error', (error: NodeJS.ErrnoException) => {
    const reason = error.code === 'EADDRINUSE' ? 'the port is in use (set PORT)' : error.message;
    process.stderr.write(`leadgraph: cannot listen on ${config.host}:${config.port}: ${reason}\n`);
    process.exit(1);
  });
  server.listen(config.port, config.host, () => {
    const address = server.address();
    const port = typeof address === 'object' && address ? address.port : config.port;
    const host = config.host.includes(':') ? `[${config.host}]` : config.host;
    logger.info(
      { url: `http://${host}:${port}${GRAPHQL_PATH}` },
      `leadgraph is listening: open http://${host}:${port}${GRAPHQL_PATH} for GraphiQL`,
    );
    // /ready answers 503 (starting) until the index's first read and the warm-up are done.
    if (config.warmUp) void gateway.warmUp(WARM_UP_INDEX_WAIT_MS).catch((error: unknown) => logger.warn({ err: error }, 'warm-up failed'));
  });

  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down: readiness now answers 503, in-flight requests finish');
    gateway.drain();
    const exit = (): void => {
      void Promise.allSettled([dispatcher.close(), gateway.close(), demo?.close()]).then(() => process.exit(0));
    };
    // Every request ends by its deadline; past it (plus a margin) nothing is worth waiting for.
    const force = setTimeout(() => process.exit(0), config.requestTimeoutMs + SHUTDOWN_MARGIN_MS);
    force.unref();
    // Still listening while requests are in flight, so /ready answers 503 meanwhile; idle keep-alive
    // connections are closed as they appear (draining responses close theirs), then the server closes.
    const poll = setInterval(() => {
      server.closeIdleConnections();
      if (gateway.inFlight > 0) return;
      clearInterval(poll);
      server.close(exit);
      server.closeAllConnections();
    }, SHUTDOWN_POLL_MS);
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}
