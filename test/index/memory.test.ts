import { describe, expect, it } from 'vitest';
import { createLeadStore } from '../../src/index/store.js';
import { makeLeads } from './leads.js';

const gc = (): void => (globalThis as { gc?: () => void }).gc?.();
const COUNT = 100_000;

describe('the lead store: memory', () => {
  it.skipIf(!(globalThis as { gc?: unknown }).gc)(`holds ${COUNT} leads compactly (bytes per lead printed)`, () => {
    gc();
    const baseline = process.memoryUsage().heapUsed;
    const store = createLeadStore();
    // In batches, so that the generated input is garbage by the time the heap is measured.
    for (let first = 1; first <= COUNT; first += 5000) store.upsert(makeLeads(5000, first));
    gc();
    const perLead = (process.memoryUsage().heapUsed - baseline) / store.size;
    console.log(`lead index: ${Math.round(perLead)} bytes per lead over ${store.size} generated leads (heapUsed delta)`);
    expect(store.size).toBe(COUNT);
    // Loose: the generated leads carry two contacts, one custom field and a few tags each.
    expect(perLead).toBeGreaterThan(50);
    expect(perLead).toBeLessThan(1500);
  });
});
