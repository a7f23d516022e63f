/**
 * The lead index while the upstream's data moves (real HTTP on 127.0.0.1, refresh every second): a
 * client walking the pages across refreshes (inserts at the head, updates that move sort keys,
 * deletions between pages) sees no duplicate and every lead that was there all along exactly once;
 * changes show within a refresh interval, also stamped ahead of the gateway's clock, and a V4 change the
 * warehouse loads late with an older updated_at is caught within the overlap.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, startHarness } from './support/harness.js';
import {
  ask,
  type Direction,
  dataOf,
  type ExpectedLead,
  idsOf,
  indexReady,
  leadFromAccount,
  leadsFromRows,
  type OrderField,
  paced,
  sortLeads,
  walk,
} from './support/index-expect.js';
import { startTestUpstream, type TestUpstream } from './support/test-upstream.js';
import { until } from './support/until.js';

const REFRESH_MS = 1000;
/** How late a change may show past one refresh interval: a pass in flight, the request, the poll. */
const MARGIN_MS = 1500;

interface Source {
  readonly api: 'v4' | 'kommo';
  /** The leads a correct index lists now (deleted ones left out). */
  readonly live: (upstream: TestUpstream) => ExpectedLead[];
}

const SOURCES: readonly Source[] = [
  { api: 'v4', live: (upstream) => leadsFromRows(upstream.data.leadRows).filter((lead) => !lead.isDeleted) },
  {
    api: 'kommo',
    live: (upstream) => upstream.account.leads.filter((lead) => !lead.isDeleted).map(leadFromAccount),
  },
];

interface Seen {
  readonly kommoId: string;
  readonly price: number;
  readonly name: string;
  readonly isDeleted: boolean;
}

/** The leads as the gateway's index resolves them now (null: unknown). */
async function lookUp(harness: Harness, ids: readonly string[]): Promise<(Seen | null)[]> {
  const query = `{ ${ids.map((id, i) => `l${i}: lead(kommoId: "${id}") { kommoId price name isDeleted }`).join(' ')} }`;
  const data = dataOf<Record<string, Seen | null>>((await ask(harness, query)).body);
  return ids.map((_, i) => data[`l${i}`] ?? null);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

for (const source of SOURCES) {
  describe(`${source.api}: a walk across refreshes`, () => {
    let upstream: TestUpstream;
    let harness: Harness;
    beforeAll(async () => {
      upstream = await startTestUpstream({ leads: 400, seed: source.api === 'v4' ? 61 : 62 });
      harness = await startHarness({
        upstream,
        api: source.api,
        env: { LEADGRAPH_INDEX: 'on', LEADGRAPH_INDEX_REFRESH_SECONDS: String(REFRESH_MS / 1000) },
      });
      await indexReady(harness);
    });
    afterAll(async () => {
      await harness.close();
      await upstream.close();
    });

    // Each source walks every kind of order once, one way or the other (a walk takes a refresh per page).
    const walks: readonly [{ field: OrderField; direction: Direction } | null, 'forward' | 'backward'][] =
      source.api === 'v4'
        ? [
            [{ field: 'PRICE', direction: 'DESC' }, 'forward'],
            [{ field: 'UPDATED_AT', direction: 'ASC' }, 'backward'],
            [null, 'forward'],
          ]
        : [
            [{ field: 'PRICE', direction: 'DESC' }, 'backward'],
            [{ field: 'UPDATED_AT', direction: 'ASC' }, 'forward'],
            [null, 'backward'],
          ];
    for (const [orderBy, way] of walks) {
      const name = orderBy ? `${orderBy.field} ${orderBy.direction}` : 'the default order';
      it(`${name}, ${way}: no duplicate, every lead there all along once, deleted ones gone, totalCount exact`, async () => {
        const initial = source.live(upstream);
        // The default order is the sync's (checked against the upstream in index-serving.test.ts): as the index has it now.
        const syncOrder = orderBy ? null : (await walk(harness, 'forward', { size: 250 })).ids;
        const initialIds = new Set(idsOf(initial));
        const deleted = new Set<string>();
        const inserted = new Set<string>();
        const expectedTotals: number[] = [initial.length];
        const between = async (page: number, seen: readonly string[]): Promise<void> => {
          const seenSet = new Set(seen);
          const unseen = source.live(upstream).filter((lead) => initialIds.has(lead.kommoId) && !seenSet.has(lead.kommoId));
          const change: { id: string; price?: number; isDeleted?: boolean }[] = [];
          // Inserts at the head: one that sorts first, one that sorts last.
          for (const price of [999_999, 1]) {
            const lead = upstream.insertLead({ name: `Walk insert ${page} ${price}`, price }, { at: 'head' });
            inserted.add(String(lead.id));
            change.push({ id: String(lead.id), price });
          }
          // Sort keys move both ways: a lead not seen yet jumps behind the walk, one seen jumps ahead of it.
          const ahead = unseen[unseen.length - 1];
          const behind = seen.find((id) => initialIds.has(id) && !deleted.has(id));
          for (const [id, price] of [
            [ahead?.kommoId, page % 2 === 0 ? 1_500_000 : 0],
            [behind, page % 2 === 0 ? 0 : 1_500_000],
          ] as const) {
            if (id === undefined) continue;
            upstream.updateLead(Number(id), { price });
            change.push({ id, price });
          }
          // A lead not seen yet is deleted.
          const doomed = unseen[Math.floor(unseen.length / 2)];
          if (doomed && doomed.kommoId !== ahead?.kommoId) {
            upstream.deleteLead(Number(doomed.kommoId));
            deleted.add(doomed.kommoId);
            change.push({ id: doomed.kommoId, isDeleted: true });
          }
          await until(
            paced(async () => {
              const now = await lookUp(
                harness,
                change.map((entry) => entry.id),
              );
              return change.every(
                (entry, i) =>
                  now[i] !== null &&
                  (entry.price === undefined || now[i]?.price === entry.price) &&
                  (entry.isDeleted === undefined || now[i]?.isDeleted === entry.isDeleted),
              );
            }),
            REFRESH_MS * 5,
            'the changes reach the index',
          );
          expectedTotals.push(source.live(upstream).length);
        };
        const result = await walk(harness, way, { orderBy, size: 100, between });
        expect(result.pages).toBeGreaterThan(3);
        expect(new Set(result.ids).size).toBe(result.ids.length);
        const allAlong = [...initialIds].filter((id) => !deleted.has(id));
        const once = new Set(result.ids);
        expect(allAlong.filter((id) => !once.has(id))).toEqual([]);
        expect(result.ids.filter((id) => deleted.has(id))).toEqual([]);
        expect(result.ids.every((id) => initialIds.has(id) || inserted.has(id))).toBe(true);
        // The walk keeps the order its first page saw: the leads there all along come in their initial order.
        const initialOrder = (syncOrder ?? idsOf(sortLeads(initial, orderBy?.field ?? 'ID', orderBy?.direction ?? 'ASC'))).filter(
          (id) => !deleted.has(id),
        );
        expect(result.ids.filter((id) => initialIds.has(id))).toEqual(initialOrder);
        // Each page's totalCount is the number of live leads when it was read.
        expect(result.totals).toEqual(expectedTotals);
      });
    }
  });
}

describe('freshness', () => {
  for (const source of SOURCES) {
    it(`${source.api}: a change shows within one refresh interval; one stamped ahead of the gateway's clock too, and later ones after it`, async () => {
      const upstream = await startTestUpstream({ leads: 200, seed: 71 });
      const harness = await startHarness({
        upstream,
        api: source.api,
        env: { LEADGRAPH_INDEX: 'on', LEADGRAPH_INDEX_REFRESH_SECONDS: String(REFRESH_MS / 1000) },
      });
      try {
        await indexReady(harness);
        const [a, b, c] = source.live(upstream);
        if (!a || !b || !c) throw new Error('no leads');
        const showsWithin = async (id: string, name: string, what: string): Promise<number> => {
          const started = Date.now();
          await until(
            paced(async () => (await lookUp(harness, [id]))[0]?.name === name, 50),
            REFRESH_MS + MARGIN_MS + 1000,
            what,
          );
          return Date.now() - started;
        };
        upstream.updateLead(Number(a.kommoId), { name: 'Fresh name' });
        expect(await showsWithin(a.kommoId, 'Fresh name', 'a change')).toBeLessThan(REFRESH_MS + MARGIN_MS);

        // Two hours ahead: the watermark comes from the gateway's clock, not from the newest updated_at seen.
        upstream.setClockSkew(2 * 3600_000);
        const future = upstream.updateLead(Number(b.kommoId), { name: 'From the future' });
        expect(future.updatedAt.getTime()).toBeGreaterThan(Date.now() + 3600_000);
        expect(await showsWithin(b.kommoId, 'From the future', 'a change stamped ahead')).toBeLessThan(REFRESH_MS + MARGIN_MS);
        upstream.setClockSkew(0);
        await sleep(REFRESH_MS * 1.5); // a refresh or two after the future row
        upstream.updateLead(Number(c.kommoId), { name: 'Back to now' });
        expect(await showsWithin(c.kommoId, 'Back to now', 'a change after one stamped ahead')).toBeLessThan(REFRESH_MS + MARGIN_MS);
        const sorted = dataOf<{ leads: { edges: { node: { kommoId: string } }[] } }>(
          (await ask(harness, '{ leads(first: 1, orderBy: { field: UPDATED_AT, direction: DESC }) { edges { node { kommoId } } } }')).body,
        );
        expect(sorted.leads.edges[0]?.node.kommoId).toBe(b.kommoId);

        // Refreshes re-read the changed leads within their overlap: unchanged, they leave the snapshot as it is
        // (a cursor carries the snapshot version its walk started at).
        const versionNow = async (): Promise<number> => {
          const { body } = await ask(harness, '{ leads(first: 1) { pageInfo { endCursor } } }');
          const cursor = dataOf<{ leads: { pageInfo: { endCursor: string } } }>(body).leads.pageInfo.endCursor;
          return (JSON.parse(Buffer.from(cursor, 'base64url').toString()) as unknown[])[3] as number;
        };
        const version = await versionNow();
        upstream.reset();
        await sleep(REFRESH_MS * 2.5);
        expect(upstream.count()).toBeGreaterThanOrEqual(2);
        expect(await versionNow()).toBe(version);
      } finally {
        await harness.close();
        await upstream.close();
      }
    });
  }

  it('v4: a change the warehouse loads late, with an older updated_at, is caught within the overlap', async () => {
    const upstream = await startTestUpstream({ leads: 200, seed: 72 });
    const harness = await startHarness({
      upstream,
      env: { LEADGRAPH_INDEX: 'on', LEADGRAPH_INDEX_REFRESH_SECONDS: '1', LEADGRAPH_INDEX_OVERLAP_MINUTES: '1' },
    });
    try {
      await indexReady(harness);
      const [a, b] = leadsFromRows(upstream.data.leadRows).filter((lead) => !lead.isDeleted);
      if (!a || !b) throw new Error('no leads');
      upstream.holdV4Loads(true);
      const held = upstream.updateLead(Number(a.kommoId), { name: 'Loaded late' });
      const inserted = upstream.insertLead({ name: 'Inserted late' }, { at: 'head' });
      // Several refreshes pass while the change is held: each reads from a watermark after its updated_at.
      await sleep(3000);
      expect((await lookUp(harness, [a.kommoId, String(inserted.id)])).map((lead) => lead?.name ?? null)).toEqual([a.name, null]);
      upstream.reset();
      upstream.loadV4();
      const loadedAt = Date.now();
      await until(
        paced(
          async () =>
            (await lookUp(harness, [a.kommoId, String(inserted.id)])).every(
              (lead, i) => lead?.name === ['Loaded late', 'Inserted late'][i],
            ),
          50,
        ),
        REFRESH_MS + MARGIN_MS + 1000,
        'the late load reaches the index',
      );
      expect(Date.now() - loadedAt).toBeLessThan(REFRESH_MS + MARGIN_MS);
      expect(held.updatedAt.getTime()).toBeLessThan(loadedAt - 2500);
      // The refresh that caught it read from its watermark: one call, not a full re-read.
      const reads = upstream.requests.filter((request) => request.endpoint === 'leads');
      expect(reads.length).toBeGreaterThan(0);
      expect(reads.every((request) => request.query.lastModifiedStart !== undefined)).toBe(true);
    } finally {
      upstream.holdV4Loads(false);
      await harness.close();
      await upstream.close();
    }
  });
});
