/** A GraphQL-over-SSE subscriber for tests: `leadChanged` over a real HTTP stream, parsed event by event. */
import type { Harness } from './harness.js';

export interface Change {
  kind: string;
  at: string;
  changedFields: string[];
  lead: { kommoId: string; name: string; price: number; isDeleted: boolean; status: { name: string } | null };
}

export const SUBSCRIPTION = `subscription Changes($filter: LeadFilter) {
  leadChanged(filter: $filter) { kind at changedFields lead { kommoId name price isDeleted status { name } } } }`;

/** An SSE subscriber: collects `next` events; `close` aborts the stream, as a browser tab closing would. */
export function sse(harness: Harness, variables: Record<string, unknown> = {}, headers: Record<string, string> = {}) {
  const controller = new AbortController();
  const changes: Change[] = [];
  const errors: unknown[] = [];
  const done = (async () => {
    const response = await fetch(harness.url, {
      method: 'POST',
      signal: controller.signal,
      headers: { 'content-type': 'application/json', accept: 'text/event-stream', ...headers },
      body: JSON.stringify({ query: SUBSCRIPTION, variables }),
    });
    const reader = (response.body as ReadableStream<Uint8Array>).getReader();
    const decoder = new TextDecoder();
    let buffer = '';
    for (;;) {
      const { value, done: ended } = await reader.read();
      if (ended) return;
      buffer += decoder.decode(value, { stream: true });
      let cut = buffer.indexOf('\n\n');
      while (cut >= 0) {
        const event = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        const data = event.split('\n').find((line) => line.startsWith('data:'));
        if (data && event.includes('event: next')) {
          const body = JSON.parse(data.slice(5)) as { data?: { leadChanged: Change }; errors?: unknown[] };
          if (body.data) changes.push(body.data.leadChanged);
          if (body.errors) errors.push(...body.errors);
        }
        cut = buffer.indexOf('\n\n');
      }
    }
  })().catch((error: unknown) => {
    if (!controller.signal.aborted) errors.push(error);
  });
  return { changes, errors, done, close: () => controller.abort() };
}
