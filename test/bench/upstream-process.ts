/**
 * The demo upstream alone in its own process, for the raw-upstream scenarios: the gateway runs in its
 * own process too, so neither shares a CPU core's event loop with the load generator. Its one argument,
 * when given, is the number of leads to generate (the demo's default otherwise; the same seed, so the
 * same data as a test upstream with that many leads). Prints its URL and credentials as one JSON line;
 * stops when its parent closes stdin or exits.
 */
import { startDemoUpstream } from '../../src/demo/server.js';

const leads = process.argv[2] === undefined ? undefined : Number(process.argv[2]);
const demo = await startDemoUpstream(leads === undefined ? {} : { leads });
const { url, clientId, clientSecret, workspaceId } = demo;
process.stdout.write(`${JSON.stringify({ url, clientId, clientSecret, workspaceId })}\n`);
process.stdin.on('end', () => {
  void demo.close().then(() => process.exit(0));
});
process.stdin.resume();
