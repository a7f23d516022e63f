/** A loopback server in front of the demo upstream that can misbehave per endpoint. */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** Return true when the fault handled the response; false passes the request on to the target. */
export type Fault = (request: IncomingMessage, response: ServerResponse) => boolean;

export async function startRudeUpstream(target: string, fault: Fault): Promise<{ url: string; close(): Promise<void> }> {
  const server = createServer(async (request, response) => {
    if (fault(request, response)) return;
    const upstream = await fetch(new URL(request.url ?? '/', target), {
      headers: Object.fromEntries(
        Object.entries(request.headers).filter((entry): entry is [string, string] => typeof entry[1] === 'string'),
      ),
    });
    response.writeHead(upstream.status, { 'content-type': upstream.headers.get('content-type') ?? 'application/json' });
    response.end(Buffer.from(await upstream.arrayBuffer()));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
