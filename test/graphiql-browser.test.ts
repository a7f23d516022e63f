/**
 * GraphiQL in a real browser: Debian's Chromium, headless, driven by playwright-core (which never
 * downloads a browser here). It loads /graphql from the gateway, runs the example query, reads the
 * result pane and opens the docs explorer; the screenshots go to test/.artifacts/ (git-ignored).
 * Without Chromium (`apt-get install chromium`; .ci/run installs it) the test is skipped, with the reason.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { type Browser, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectedLeads, type Harness, startHarness } from './support/harness.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const MISSING = existsSync(CHROMIUM) ? null : `no Chromium at ${CHROMIUM}: apt-get install chromium, or set CHROMIUM_PATH`;
const ARTIFACTS = 'test/.artifacts';
// The default reporter counts a skipped test without its name: say why where it shows.
if (MISSING) console.warn(`GraphiQL browser test skipped: ${MISSING}`);

describe.skipIf(MISSING !== null)(`GraphiQL in Chromium${MISSING ? ` (skipped: ${MISSING})` : ''}`, () => {
  let harness: Harness;
  let browser: Browser;
  beforeAll(async () => {
    harness = await startHarness({ demo: { leads: 60 } });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
      ],
      timeout: 30_000,
    });
    mkdirSync(ARTIFACTS, { recursive: true });
  });
  afterAll(async () => {
    await browser?.close();
    await harness?.close();
  });

  it('loads offline from the gateway, runs the example query, shows leads, and documents the schema', async () => {
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    const origin = new URL(harness.url).origin;
    const foreign: string[] = [];
    const encodings = new Map<string, string>();
    page.on('request', (request) => {
      const url = request.url();
      if (!url.startsWith(origin) && !url.startsWith('blob:') && !url.startsWith('data:')) foreign.push(url);
    });
    page.on('response', (response) => {
      if (response.url().includes('/graphiql/'))
        encodings.set(response.url().split('/').at(-1) ?? '', response.headers()['content-encoding'] ?? '');
    });
    await page.goto(harness.url, { timeout: 30_000 });
    await page.waitForSelector('.graphiql-execute-button', { timeout: 30_000 });
    expect(await page.title()).toBe('leadgraph');

    await page.click('.graphiql-execute-button');
    const first = expectedLeads(harness.demo)[0]?.kommoId as string;
    await page.waitForFunction((kommoId) => (document.querySelector('.graphiql-response')?.textContent ?? '').includes(kommoId), first, {
      timeout: 20_000,
    });
    const result = (await page.textContent('.graphiql-response')) ?? '';
    expect(result).toContain('"leads"');
    expect(result).toContain('"edges"');
    expect(result).not.toContain('"errors"');
    await page.screenshot({ path: `${ARTIFACTS}/graphiql-result.png` });

    await page.click('button[aria-label="Show Documentation Explorer"]');
    const explorer = page.locator('.graphiql-doc-explorer');
    await explorer.getByText('Start at Query').waitFor({ timeout: 10_000 });
    await explorer.getByRole('link', { name: 'Query', exact: true }).first().click();
    await explorer.getByText('Federation: the objects of this subgraph').waitFor({ timeout: 10_000 });
    expect(await explorer.textContent()).toContain('Leads of the account');
    await page.screenshot({ path: `${ARTIFACTS}/graphiql-docs.png` });

    expect(foreign).toEqual([]);
    // The browser asked for brotli and got it for the bundle.
    expect(encodings.get('graphiql.js')).toBe('br');
    await page.close();
  });
});
