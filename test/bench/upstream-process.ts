/**
 * The demo upstream alone in its own process, for the raw-upstream scenario: the gateway runs in its
 * own process too, so neither shares a CPU core's event loop with the load generator. Prints its URL
 * and credentials as one JSON line; stops when its parent closes stdin or exits.
 */
import { startDemoUpstream } from '../../src/demo/server.js';

const demo = await startDemoUpstream();
const { url, clientId, clientSecret, workspaceId } = demo;
process.stdout.write(`${JSON.stringify({ url, clientId, clientSecret, workspaceId })}\n`);
process.stdin.on('end', () => {
  void demo.close().then(() => process.exit(0));
});
process.stdin.resume();
