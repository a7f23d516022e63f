import { readdirSync, readFileSync } from 'node:fs';
import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';
import { generateDemoAccount } from '../src/demo/data.js';
import { answerKommo } from '../src/demo/kommo.js';
import { v4Tables } from '../src/demo/v4.js';

describe('the demo upstream', () => {
  it('renders both APIs from its own records, never through the gateway source adapters', () => {
    for (const file of readdirSync('src/demo')) {
      expect(readFileSync(`src/demo/${file}`, 'utf8'), file).not.toMatch(/from '\.\.\/(sources|transport)\//);
    }
  });

  it('ships without fault injection or test hooks in the production bundle', async () => {
    const result = await build({
      entryPoints: ['src/serve.ts'],
      bundle: true,
      platform: 'node',
      format: 'esm',
      packages: 'external',
      write: false,
      logLevel: 'silent',
    });
    const bundle = result.outputFiles.map((file) => file.text).join('\n');
    expect(bundle).toContain('startDemoUpstream');
    for (const hook of [
      'setFaults',
      'enforceRateLimit',
      'setLatency',
      'setKommoUsersForbidden',
      'addTenant',
      'holdV4Loads',
      'vanishLead',
      'html-403',
      'ThrottlerException',
    ]) {
      expect(bundle).not.toContain(hook);
    }
  });

  it('serves the Kommo API natively: no deleted leads, and null where the V4 row holds garbage', () => {
    const account = generateDemoAccount({ leads: 200, seed: 7 });
    const rows = v4Tables(account, null).leadRows;
    const kommo = answerKommo(account, '/api/v4/leads', new URLSearchParams({ limit: '250' })).body as {
      _embedded: { leads: { id: number; created_at: number | null; custom_fields_values: unknown; _embedded: { tags: unknown[] } }[] };
    };
    const byId = new Map(kommo._embedded.leads.map((lead) => [lead.id, lead]));
    expect(byId.size).toBe(account.leads.filter((lead) => !lead.isDeleted).length);
    const rowOf = (id: number) => rows.find((row) => row.lead_id === String(id));

    const undated = account.leads.find((lead) => lead.v4Text?.created_at !== undefined && !lead.isDeleted);
    expect(rowOf(undated?.id ?? 0)?.created_at).toBe('not a date');
    expect(byId.get(undated?.id ?? 0)?.created_at).toBeNull();
    const unparsable = account.leads.find((lead) => lead.v4Text?.custom_fields_values !== undefined && !lead.isDeleted);
    expect(rowOf(unparsable?.id ?? 0)?.custom_fields_values).toBe('not json');
    expect(byId.get(unparsable?.id ?? 0)?.custom_fields_values).toBeNull();
    // A V4 row whose `tags` is a comma list: the Kommo lead still has every tag, with its id.
    const commaTags = account.leads.find((lead) => lead.v4Text?.tags !== undefined && !lead.isDeleted);
    expect(byId.get(commaTags?.id ?? 0)?._embedded.tags).toEqual(commaTags?.tags);

    expect(answerKommo(account, '/api/v4/leads', new URLSearchParams({ 'filter[responsible_user_id][]': '1' })).status).toBe(204);
  });
});
