import { readdirSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { type Harness, startHarness } from './support/harness.js';
import { until } from './support/until.js';

const readme = readFileSync('README.md', 'utf8');
const examples = [...readme.matchAll(/```graphql\n([\s\S]*?)```/g)].map((match) => match[1] as string);

describe('the README', () => {
  let harness: Harness;
  beforeAll(async () => {
    // As a newcomer runs it: the lead index on (examples sort and search), queried once it is ready.
    harness = await startHarness({ env: { LEADGRAPH_INDEX: 'on' } });
    // A tenant's index starts with its first request.
    await harness.post({ query: '{ pipelines { name } }' });
    const ready = harness.url.replace('/graphql', '/ready');
    await until(
      async () => ((await (await fetch(ready)).json()) as { index: { state: string } }).index.state === 'ready',
      10_000,
      'the index ready',
    );
  });
  afterAll(() => harness.close());

  it('has example queries', () => {
    expect(examples.length).toBeGreaterThanOrEqual(6);
  });

  for (const example of examples) {
    const name = /query (\w+)/.exec(example)?.[1] ?? 'anonymous';
    it(`example ${name} runs against the demo without errors and returns data`, async () => {
      // Variables the examples declare: a cursor (none: the first page) and a lead (the frontend example's detail page).
      const response = await harness.post({ query: example, variables: { after: null, kommoId: '20000001' } });
      const body = (await response.json()) as { data?: Record<string, unknown>; errors?: unknown[] };
      expect(body.errors).toBeUndefined();
      expect(Object.keys(body.data ?? {}).length).toBeGreaterThan(0);
      expect(Object.values(body.data ?? {}).every((value) => value !== null)).toBe(true);
      // An example shows something: no connection in its answer is empty.
      const empty: string[] = [];
      const visit = (value: unknown, path: string): void => {
        if (Array.isArray(value)) {
          for (const [index, item] of value.entries()) visit(item, `${path}.${index}`);
        } else if (value && typeof value === 'object') {
          const { edges } = value as { edges?: unknown };
          if (Array.isArray(edges) && edges.length === 0) empty.push(path);
          for (const [key, item] of Object.entries(value)) visit(item, `${path}.${key}`);
        }
      };
      visit(body.data, 'data');
      expect(empty).toEqual([]);
    });
  }

  it('documents every configuration variable the code reads, with its real default', () => {
    // config.ts reads the common settings, each source's profile its own.
    const files = [
      'src/config.ts',
      ...readdirSync('src/sources', { recursive: true, encoding: 'utf8' }).map((file) => `src/sources/${file}`),
    ];
    const source = files
      .filter((file) => file.endsWith('profile.ts') || file === 'src/config.ts')
      .map((file) => readFileSync(file, 'utf8'))
      .join('\n');
    const variables = [
      ...new Set([...source.matchAll(/'((?:V4|KOMMO|LEADGRAPH|PORT|HOST|LOG)[A-Z0-9_]*)'/g)].map((match) => match[1] as string)),
    ];
    expect(variables.length).toBeGreaterThan(8);
    expect(variables).toEqual(
      expect.arrayContaining(['KOMMO_BASE_URL', 'KOMMO_TOKEN', 'LEADGRAPH_KOMMO_RATE_PER_SEC', 'V4_CLIENT_SECRET']),
    );
    for (const variable of variables) expect(readme).toContain(`\`${variable}\``);
    const defaults = loadConfig({});
    for (const [variable, value] of [
      ['PORT', defaults.port],
      ['HOST', defaults.host],
      ['LEADGRAPH_UPSTREAM_PAGE_SIZE', defaults.upstreamPageSize],
      ['LEADGRAPH_DEFAULT_PAGE_SIZE', defaults.defaultPageSize],
      ['LEADGRAPH_MAX_PAGE_SIZE', defaults.maxPageSize],
      ['LEADGRAPH_UPSTREAM_TIMEOUT_MS', defaults.upstreamTimeoutMs],
      ['V4_API_URL', defaults.source.kind === 'v4' ? defaults.source.apiUrl : ''],
    ] as const) {
      expect(readme).toMatch(new RegExp(`\\|\\s*\`${variable}\`\\s*\\|\\s*\`${String(value).replace(/[.]/g, '\\.')}\`\\s*\\|`));
    }
  });

  it("shows the frontend example's operation files as they are", () => {
    const shown = examples.filter((example) => example.startsWith('# examples/frontend/'));
    expect(shown.length).toBeGreaterThanOrEqual(2);
    for (const example of shown) {
      // A block is one or more files, each after a comment line naming it.
      const parts = example.split(/^# (examples\/frontend\/\S+\.graphql)\n/m).slice(1);
      expect(parts.length).toBeGreaterThan(0);
      for (let i = 0; i < parts.length; i += 2) {
        const file = parts[i] as string;
        expect(`${(parts[i + 1] as string).trimEnd()}\n`, file).toBe(readFileSync(file, 'utf8'));
      }
    }
  });

  it('names the two commands a newcomer runs', () => {
    expect(readme).toContain('npm install && npm start');
    expect(readme).toContain('npm test');
    expect(readFileSync('.ci/run', 'utf8')).toMatch(/^npm test$/m);
  });
});
