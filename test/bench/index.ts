/**
 * `npm run bench:index`: the lead index over 100,000 generated leads (in this process, no upstream).
 * Prints the time of a filtered, sorted page in the cases a client meets: the first query of a version
 * (the sorted column is built), the next pages of the walk (the view is cached), the first query after a
 * refresh changed leads, and a walk's next page after such a refresh (its old keys merged back in).
 * Absolute numbers depend on the machine.
 */
import { performance } from 'node:perf_hooks';
import { leadGroups, leadTotals } from '../../src/index/stats.js';
import { createLeadStore, type IndexQuery } from '../../src/index/store.js';
import { makeLead, makeLeads } from '../index/leads.js';

const COUNT = Number(process.env.BENCH_LEADS ?? 100_000);
const RUNS = 20;
const SETTINGS = { defaultPageSize: 50, maxPageSize: 500 };

function time<T>(run: () => T): { ms: number; result: T } {
  const start = performance.now();
  const result = run();
  return { ms: performance.now() - start, result };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] as number;
}

const store = createLeadStore();
const load = time(() => {
  for (let first = 1; first <= COUNT; first += 5000) store.upsert(makeLeads(Math.min(5000, COUNT - first + 1), first));
});
console.log(`upsert of ${store.size} leads: ${load.ms.toFixed(0)} ms`);

const queries: [string, IndexQuery][] = [
  ['sync order, no filter', {}],
  ['PRICE DESC, pipelineId + search', { orderBy: { field: 'PRICE', direction: 'DESC' }, filter: { pipelineId: '20', search: 'alpha' } }],
  ['NAME ASC, tagName + price range', { orderBy: { field: 'NAME' }, filter: { tagName: 'vip', price: { min: 1000, max: 6000 } } }],
  [
    'UPDATED_AT DESC, closedAt range',
    { orderBy: { field: 'UPDATED_AT', direction: 'DESC' }, filter: { closedAt: { from: new Date(Date.UTC(2024, 1, 1)) } } },
  ],
];

let nextId = COUNT + 1;
for (const [name, query] of queries) {
  const coldSort = time(() => store.query(query, { first: 50 }, SETTINGS));
  const firstPage: number[] = [];
  const nextPage: number[] = [];
  const walkAfterRefresh: number[] = [];
  let walk = coldSort.result;
  for (let run = 0; run < RUNS; run += 1) {
    // A refresh: 200 leads change, 20 are new (a new version: orders are brought up to date, views rebuilt).
    const changed = Array.from({ length: 200 }, (_, i) => makeLead(((run * 997 + i * 463) % COUNT) + 1, {}, run * 1000 + i));
    store.upsert([...changed, ...Array.from({ length: 20 }, () => makeLead(nextId++))]);
    // The walk started before the refresh goes on: its leads that moved are put back where they were.
    walkAfterRefresh.push(time(() => store.query(query, { first: 50, after: walk.pageInfo.endCursor }, SETTINGS)).ms);
    const fresh = time(() => store.query(query, { first: 50 }, SETTINGS));
    firstPage.push(fresh.ms);
    const next = time(() => store.query(query, { first: 50, after: fresh.result.pageInfo.endCursor }, SETTINGS));
    nextPage.push(next.ms);
    walk = next.result;
  }
  console.log(
    `${name} (${walk.totalCount} of ${store.size} match): first sort ${coldSort.ms.toFixed(0)} ms; after a refresh of 220 leads: ` +
      `an older walk's next page ${median(walkAfterRefresh).toFixed(1)} ms, a new walk's first page ${median(firstPage).toFixed(1)} ms, ` +
      `its next page ${median(nextPage).toFixed(2)} ms (medians of ${RUNS})`,
  );
}

// leadStats (issue 14): totals and groups over the whole tenant and a filtered part of it, as a dashboard asks.
const statsCases: [string, IndexQuery][] = [
  ['all leads', {}],
  ['pipelineId + price range', { filter: { pipelineId: '20', price: { min: 1000, max: 6000 } } }],
];
for (const [name, query] of statsCases) {
  for (const [grouping, period, zone] of [
    ['STATUS', 'MONTH', 'UTC'],
    ['TAG', 'MONTH', 'UTC'],
    ['CREATED_PERIOD', 'WEEK', 'America/Sao_Paulo'],
  ] as const) {
    const runs: number[] = [];
    let groups = 0;
    for (let run = 0; run < RUNS; run += 1) {
      runs.push(
        time(() => {
          leadTotals(store, query);
          groups = leadGroups(store, query, { by: grouping, period, timeZone: zone, first: null }).length;
        }).ms,
      );
    }
    console.log(
      `leadStats, ${name}: count + totalPrice + groups(by: ${grouping}) (${groups} groups): ${median(runs).toFixed(1)} ms (median of ${RUNS})`,
    );
  }
}
