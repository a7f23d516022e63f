import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { print } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, GraphQLRequestError } from '../examples/frontend/src/client.js';
import { DashboardDocument, LeadDetailDocument, NextPageDocument } from '../examples/frontend/src/gql/graphql.js';
import { dashboard, leadDetail, nextPage } from '../examples/frontend/src/pages.js';
import { expectedLeads, type Harness, startHarness } from './support/harness.js';
import { runToExit } from './support/process.js';

const MANIFEST = 'examples/frontend/src/gql/persisted-documents.json';

/** Runs the example app's CLI as a user does (`npm run example -- ...`). */
const runExample = (args: string[]) => runToExit(process.execPath, ['--import', 'tsx', 'examples/frontend/src/main.ts', ...args]);

describe('the frontend example (examples/frontend)', () => {
  let open: Harness;
  let locked: Harness;
  beforeAll(async () => {
    open = await startHarness();
    locked = await startHarness({
      upstream: open.demo,
      env: { LEADGRAPH_PERSISTED_DOCUMENTS: MANIFEST, LEADGRAPH_TRUSTED_DOCUMENTS_ONLY: 'true' },
    });
  });
  afterAll(async () => {
    await locked.close();
    await open.close();
  });

  it("codegen's manifest holds every operation under the hash embedded in its typed document", () => {
    const manifest = JSON.parse(readFileSync(MANIFEST, 'utf8')) as Record<string, string>;
    for (const document of [DashboardDocument, NextPageDocument, LeadDetailDocument]) {
      const hash = (document as { __meta__?: { hash?: string } }).__meta__?.hash ?? '';
      expect(hash).toMatch(/^sha256:[0-9a-f]{64}$/);
      const text = manifest[hash] ?? '';
      expect(`sha256:${createHash('sha256').update(text).digest('hex')}`).toBe(hash);
      expect(text.replace(/\s+/g, ' ')).toContain(print(document).match(/query \w+/)?.[0]);
    }
    expect(Object.keys(manifest)).toHaveLength(3);
  });

  for (const [mode, byId, method] of [
    ['documents by POST, on an open gateway', false, 'POST'],
    ['trusted-document ids by POST, on a gateway that runs nothing else', true, 'POST'],
    ['trusted-document ids by GET, on a gateway that runs nothing else', true, 'GET'],
  ] as const) {
    it(`pages through the dashboard and opens a lead: ${mode}`, async () => {
      const harness = byId ? locked : open;
      const execute = createClient({ url: harness.url, byId, method });
      const expected = expectedLeads(harness.demo).map((lead) => lead.kommoId);
      const first = await dashboard(execute, 25);
      expect(first.rows.map((row) => row.kommoId)).toEqual(expected.slice(0, 25));
      expect(first.totalAtMost).toBe(harness.demo.data.leadRows.length);
      expect(first.rows.every((row) => row.name.length > 0 && row.stage.includes(' / '))).toBe(true);
      const second = await nextPage(execute, first.after as string, 25);
      expect(second.rows.map((row) => row.kommoId)).toEqual(expected.slice(25, 50));
      const third = await nextPage(execute, second.after as string, 10);
      expect(third.rows.map((row) => row.kommoId)).toEqual(expected.slice(50, 60));
      const lead = await leadDetail(execute, first.rows[0]?.kommoId as string);
      expect(lead?.kommoId).toBe(expected[0]);
      expect(lead?.name).toBe(first.rows[0]?.name);
      expect(await leadDetail(execute, '99999999')).toBeNull();
    });
  }

  it('sending documents to a gateway that runs trusted documents only fails with PERSISTED_QUERY_ONLY', async () => {
    const execute = createClient({ url: locked.url });
    const error = await dashboard(execute).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(GraphQLRequestError);
    expect((error as GraphQLRequestError).codes).toEqual(['PERSISTED_QUERY_ONLY']);
    expect((error as GraphQLRequestError).status).toBe(400);
  });

  it('its command line prints the dashboard, the next page and the lead, and says why a refusal happened', async () => {
    const byId = await runExample(['--url', locked.url, '--by-id', '--get']);
    expect(byId.stderr).toBe('');
    expect(byId.code).toBe(0);
    expect(byId.stdout).toMatch(/^Dashboard: 5 leads \(of at most \d+\)\n/);
    expect(byId.stdout).toMatch(/\nNext page: \d+, \d+, \d+, \d+, \d+\n/);
    expect(byId.stdout).toMatch(/\nLead \d+: .+ custom fields\n$/);
    const refused = await runExample(['--url', locked.url]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^the gateway refused the request \(HTTP 400\): PERSISTED_QUERY_ONLY: /);
  });
});
