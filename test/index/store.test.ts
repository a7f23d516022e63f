import { describe, expect, it } from 'vitest';
import { BadUserInputError } from '../../src/errors.js';
import {
  createLeadStore,
  type IndexFilter,
  IndexFullError,
  type IndexQuery,
  type LeadOrderField,
  type LeadStore,
  type OrderDirection,
} from '../../src/index/store.js';
import type { Lead } from '../../src/sources/adapter.js';
import { makeLead, makeLeads, TAGS } from './leads.js';

const SETTINGS = { defaultPageSize: 50, maxPageSize: 500 };

/** Pages forward through a connection; returns the ids in order. */
function walkForward(
  store: LeadStore,
  query: IndexQuery,
  size: number,
  between?: (page: number) => void,
  from: string | null = null,
): string[] {
  const ids: string[] = [];
  let after: string | null = from;
  for (let page = 0; page < 10_000; page += 1) {
    const result = store.query(query, { first: size, after }, SETTINGS);
    ids.push(...result.edges.map((edge) => edge.node.kommoId));
    if (!result.pageInfo.hasNextPage) return ids;
    after = result.pageInfo.endCursor;
    between?.(page);
  }
  throw new Error('the walk did not end');
}

function walkBackward(store: LeadStore, query: IndexQuery, size: number): string[] {
  const chunks: string[][] = [];
  let before: string | null = null;
  for (let page = 0; page < 10_000; page += 1) {
    const result = store.query(query, { last: size, before }, SETTINGS);
    chunks.unshift(result.edges.map((edge) => edge.node.kommoId));
    if (!result.pageInfo.hasPreviousPage) return chunks.flat();
    before = result.pageInfo.startCursor;
  }
  throw new Error('the walk did not end');
}

/** The order as the issue states it, written independently of the store. */
function expectedOrder(leads: readonly Lead[], field: LeadOrderField, direction: OrderDirection): string[] {
  const value = (lead: Lead): number | string | null => {
    switch (field) {
      case 'ID':
        return Number(lead.kommoId);
      case 'CREATED_AT':
        return lead.createdAt.getTime();
      case 'UPDATED_AT':
        return lead.updatedAt.getTime();
      case 'CLOSED_AT':
        return lead.closedAt?.getTime() ?? null;
      case 'PRICE':
        return lead.price;
      case 'NAME':
        return lead.name.toLowerCase();
    }
  };
  const sign = direction === 'ASC' ? 1 : -1;
  return [...leads]
    .sort((a, b) => {
      const va = value(a);
      const vb = value(b);
      if (va !== vb) {
        // A null is greater than any value: last ascending, first descending.
        if (va === null) return sign;
        if (vb === null) return -sign;
        return sign * (va < vb ? -1 : 1);
      }
      return sign * (Number(a.kommoId) - Number(b.kommoId));
    })
    .map((lead) => lead.kommoId);
}

function storeOf(leads: readonly Lead[]): LeadStore {
  const store = createLeadStore();
  store.upsert(leads);
  return store;
}

const FIELDS: LeadOrderField[] = ['ID', 'CREATED_AT', 'UPDATED_AT', 'CLOSED_AT', 'PRICE', 'NAME'];

describe('the lead store: order', () => {
  // Shuffled ids, so that insertion order, id order and every key order differ.
  const leads = makeLeads(600).sort((a, b) => ((Number(a.kommoId) * 7919) % 601) - ((Number(b.kommoId) * 7919) % 601));
  const store = storeOf(leads);

  it('the generated leads have ties and nulls in every key that can have them', () => {
    expect(new Set(leads.map((lead) => lead.price)).size).toBeLessThan(50);
    expect(leads.some((lead) => lead.closedAt === null)).toBe(true);
    expect(new Set(leads.map((lead) => lead.name.toLowerCase())).size).toBeLessThan(leads.length);
    expect(leads.some((lead) => lead.name !== lead.name.toLowerCase())).toBe(true);
  });

  for (const field of FIELDS) {
    for (const direction of ['ASC', 'DESC'] as const) {
      it(`orders by ${field} ${direction} as specified, forward and backward, over pages`, () => {
        const query = { orderBy: { field, direction } };
        const expected = expectedOrder(leads, field, direction);
        expect(walkForward(store, query, 37)).toEqual(expected);
        expect(walkBackward(store, query, 41)).toEqual(expected);
        expect(store.query(query, { first: 5 }, SETTINGS).totalCount).toBe(leads.length);
      });
    }
  }

  it('without orderBy, keeps the order of first sync, later leads after, updated leads in place', () => {
    const inOrder = createLeadStore();
    inOrder.upsert([makeLead(30), makeLead(10), makeLead(20)]);
    inOrder.upsert([makeLead(5), makeLead(10, { name: 'Renamed', updatedAt: new Date() })]);
    expect(walkForward(inOrder, {}, 2)).toEqual(['30', '10', '20', '5']);
    expect(inOrder.ids()).toEqual(['30', '10', '20', '5']);
  });

  it('a NAME order ignores case', () => {
    const named = storeOf([makeLead(1, { name: 'banana' }), makeLead(2, { name: 'Apple' }), makeLead(3, { name: 'cherry' })]);
    expect(walkForward(named, { orderBy: { field: 'NAME' } }, 10)).toEqual(['2', '1', '3']);
  });

  it('ties by kommoId numerically, not as text', () => {
    const tied = storeOf([makeLead(10, { price: 5 }), makeLead(9, { price: 5 }), makeLead(100, { price: 5 })]);
    expect(walkForward(tied, { orderBy: { field: 'PRICE', direction: 'ASC' } }, 10)).toEqual(['9', '10', '100']);
    expect(walkForward(tied, { orderBy: { field: 'PRICE', direction: 'DESC' } }, 10)).toEqual(['100', '10', '9']);
  });
});

describe('the lead store: filters', () => {
  const leads = makeLeads(800).map((lead, i) => (i % 13 === 0 ? { ...lead, isDeleted: true } : lead));
  const store = storeOf(leads);
  const day = (n: number) => new Date(Date.UTC(2024, 0, 1) + n * 86_400_000);
  const live = (lead: Lead) => !lead.isDeleted;
  const cases: [string, IndexFilter, (lead: Lead) => boolean][] = [
    ['statusId', { statusId: '142' }, (l) => l.statusId === '142'],
    ['pipelineId', { pipelineId: '20' }, (l) => l.pipelineId === '20'],
    ['responsibleUserId', { responsibleUserId: '3' }, (l) => l.responsibleUserId === '3'],
    ['groupId', { groupId: '7' }, (l) => l.groupId === '7'],
    ['lossReasonId', { lossReasonId: '901' }, (l) => l.lossReason?.kommoId === '901'],
    ['tagId', { tagId: '503' }, (l) => l.tags.some((t) => t.kommoId === '503')],
    ['tagName, case-insensitively', { tagName: 'VIP' }, (l) => l.tags.some((t) => t.name.toLowerCase() === 'vip')],
    [
      'tagId and tagName: a tag with the id and a tag with the name',
      { tagId: '502', tagName: 'referral' },
      (l) => l.tags.some((t) => t.kommoId === '502') && l.tags.some((t) => t.name === 'Referral'),
    ],
    ['createdFrom/createdTo', { createdFrom: day(10), createdTo: day(20) }, (l) => l.createdAt >= day(10) && l.createdAt <= day(20)],
    ['updatedFrom', { updatedFrom: day(30) }, (l) => l.updatedAt >= day(30)],
    ['updatedTo', { updatedTo: day(15) }, (l) => l.updatedAt <= day(15)],
    ['search, case-insensitively', { search: 'aLPHa' }, (l) => l.name.toLowerCase().includes('alpha')],
    ['price min/max, inclusive', { price: { min: 1000, max: 3000 } }, (l) => l.price >= 1000 && l.price <= 3000],
    ['price min only', { price: { min: 9000 } }, (l) => l.price >= 9000],
    [
      'closedAt from/to (a lead not closed matches no bound)',
      { closedAt: { from: day(20), to: day(40) } },
      (l) => l.closedAt !== null && l.closedAt >= day(20) && l.closedAt <= day(40),
    ],
    [
      'several at once',
      { pipelineId: '10', search: 'e', price: { max: 5000 } },
      (l) => l.pipelineId === '10' && l.name.toLowerCase().includes('e') && l.price <= 5000,
    ],
  ];

  for (const [name, filter, keep] of cases) {
    it(`filters by ${name}, with an exact totalCount`, () => {
      const expected = leads.filter((lead) => live(lead) && keep(lead));
      expect(expected.length).toBeGreaterThan(0);
      const query = { filter, orderBy: { field: 'PRICE' as const, direction: 'DESC' as const } };
      expect(walkForward(store, query, 29)).toEqual(expectedOrder(expected, 'PRICE', 'DESC'));
      expect(store.query(query, { first: 1 }, SETTINGS).totalCount).toBe(expected.length);
    });
  }

  it('leaves deleted leads out unless includeDeleted', () => {
    expect(store.query({}, { first: 1 }, SETTINGS).totalCount).toBe(leads.filter(live).length);
    expect(store.query({ includeDeleted: true }, { first: 1 }, SETTINGS).totalCount).toBe(leads.length);
  });

  it('matches the tags the test data uses', () => {
    expect(TAGS.map((tag) => tag.name.toLowerCase())).toContain('vip');
  });
});

describe('the lead store: leads', () => {
  it('merges the tag-exploded fragments of one lead into one lead with all its tags', () => {
    const store = createLeadStore();
    const [a, b] = TAGS as [(typeof TAGS)[0], (typeof TAGS)[0]];
    store.upsert([makeLead(1, { tags: [a] }), makeLead(1, { tags: [b] }), makeLead(2, { tags: [] })]);
    expect(store.size).toBe(2);
    expect(store.get(['1'])[0]?.tags.map((tag) => tag.kommoId)).toEqual([a.kommoId, b.kommoId]);
  });

  it('returns the lead as it was given, field by field', () => {
    const store = createLeadStore();
    const lead = makeLead(7, { closedAt: null, price: 1234.5, score: 3, laborCostSeconds: 60, source: { kommoId: '1', name: 'Web' } });
    store.upsert([lead]);
    expect(store.get(['7'])[0]).toEqual(lead);
  });

  it('resolves deleted leads with isDeleted, removed and unknown ids as null, in key order', () => {
    const store = storeOf(makeLeads(3));
    expect(store.markDeleted(['2', '99'])).toBe(1);
    expect(store.remove(['3'])).toBe(1);
    const found = store.get(['3', '2', '404', '1']);
    expect(found.map((lead) => lead?.kommoId ?? null)).toEqual([null, '2', null, '1']);
    expect(found[1]?.isDeleted).toBe(true);
    expect(store.has('3')).toBe(false);
  });

  it('counts a version for every change and none for an upsert that changes nothing', () => {
    const store = createLeadStore();
    store.upsert(makeLeads(3));
    expect(store.version).toBe(1);
    expect(store.upsert(makeLeads(3))).toBe(0);
    expect(store.version).toBe(1);
    expect(store.upsert([makeLead(2, { price: 1 })])).toBe(1);
    expect(store.version).toBe(2);
    store.markDeleted(['1']);
    store.remove(['3']);
    expect(store.version).toBe(4);
  });

  it('refuses past its cap, without taking any of the batch', () => {
    const store = createLeadStore({ maxLeads: 3 });
    store.upsert(makeLeads(2));
    expect(() => store.upsert(makeLeads(3, 2))).toThrow(IndexFullError);
    expect(store.size).toBe(2);
    expect(store.upsert([makeLead(2, { price: 7 }), makeLead(3)])).toBe(2);
  });

  it('reuses the slot of a removed lead without confusing the two', () => {
    const store = storeOf(makeLeads(3));
    store.remove(['2']);
    store.upsert([makeLead(9)]);
    expect(store.ids()).toEqual(['1', '3', '9']);
    expect(store.get(['9'])[0]?.kommoId).toBe('9');
  });
});

describe('the lead store: cursors', () => {
  const store = storeOf(makeLeads(100));

  it('refuses a cursor of another filter or another order', () => {
    const page = store.query({ filter: { pipelineId: '10' } }, { first: 5 }, SETTINGS);
    const cursor = page.pageInfo.endCursor as string;
    expect(() => store.query({ filter: { pipelineId: '20' } }, { first: 5, after: cursor }, SETTINGS)).toThrow(
      /cursor of a different filter or order/,
    );
    expect(() => store.query({ filter: { pipelineId: '10' }, orderBy: { field: 'PRICE' } }, { first: 5, after: cursor }, SETTINGS)).toThrow(
      BadUserInputError,
    );
    const ascending = store.query({ orderBy: { field: 'PRICE' } }, { first: 5 }, SETTINGS).pageInfo.endCursor as string;
    expect(() => store.query({ orderBy: { field: 'PRICE', direction: 'DESC' } }, { first: 5, before: ascending }, SETTINGS)).toThrow(
      /different filter or order/,
    );
    expect(() => store.query({ filter: { pipelineId: '10' } }, { first: 5, after: cursor }, SETTINGS)).not.toThrow();
  });

  it('refuses what is not one of its cursors', () => {
    for (const bad of ['nope', Buffer.from('["li1"]').toString('base64url'), 'a'.repeat(5000)]) {
      expect(() => store.query({}, { first: 5, after: bad }, SETTINGS)).toThrow(/not a cursor of this API/);
    }
  });

  it('validates first and last', () => {
    expect(() => store.query({}, { first: 501 }, SETTINGS)).toThrow(BadUserInputError);
    expect(() => store.query({}, { first: 1, last: 1 }, SETTINGS)).toThrow(/not both/);
  });

  it('reports its neighbours exactly', () => {
    const all = store.query({}, { first: 10 }, SETTINGS);
    expect(all.pageInfo).toMatchObject({ hasNextPage: true, hasPreviousPage: false });
    const middle = store.query({}, { first: 10, after: all.pageInfo.endCursor }, SETTINGS);
    expect(middle.pageInfo.hasPreviousPage).toBe(true);
    const between = store.query({}, { after: all.edges[2]?.cursor, before: all.edges[6]?.cursor }, SETTINGS);
    expect(between.edges.map((edge) => edge.node.kommoId)).toEqual(['4', '5', '6']);
  });

  it('refuses a walk whose old keys outlived the cursor lifetime', () => {
    let now = 0;
    const aging = createLeadStore({ cursorLifetimeMs: 1000, now: () => now });
    aging.upsert(makeLeads(10));
    const cursor = aging.query({ orderBy: { field: 'PRICE' } }, { first: 3 }, SETTINGS).pageInfo.endCursor;
    aging.upsert([makeLead(1, { price: 99_999 })]);
    expect(() => aging.query({ orderBy: { field: 'PRICE' } }, { first: 3, after: cursor }, SETTINGS)).not.toThrow();
    now = 5000;
    aging.upsert([makeLead(2, { price: 99_999 })]);
    expect(() => aging.query({ orderBy: { field: 'PRICE' } }, { first: 3, after: cursor }, SETTINGS)).toThrow(/start again/);
  });
});

describe('the lead store: a walk while the index refreshes', () => {
  const orders: (LeadOrderField | null)[] = [null, 'UPDATED_AT', 'PRICE', 'NAME', 'CLOSED_AT'];
  for (const field of orders) {
    for (const direction of ['ASC', 'DESC'] as const) {
      if (field === null && direction === 'DESC') continue;
      it(`by ${field ?? 'sync order'} ${field ? direction : ''}: every lead there all along once, no duplicate, deleted ones gone`, () => {
        const store = storeOf(makeLeads(500));
        const query: IndexQuery = { orderBy: field ? { field, direction } : null, filter: { price: { max: 8000 } } };
        const keep = (lead: Lead | null) => lead !== null && !lead.isDeleted && lead.price <= 8000;
        const atStart = new Set(
          store
            .get(store.ids())
            .filter(keep)
            .map((lead) => (lead as Lead).kommoId),
        );
        const touched = new Set<string>();
        const deleted = new Set<string>();
        let nextId = 10_000;
        const seen = walkForward(store, query, 23, (page) => {
          // New leads at the head of every order, updates that move leads across the walk's position, deletions.
          const head = Array.from({ length: 5 }, () =>
            makeLead(nextId++, { updatedAt: new Date(Date.UTC(2030, 0, 1) + page), price: 0, name: 'aaa new', closedAt: null }),
          );
          const moved = [3, 250, 499, 120 + page * 7].map((n) => String(((n + page * 31) % 500) + 1));
          const updates = store
            .get(moved)
            .filter((lead): lead is Lead => lead !== null)
            .map((lead) => ({
              ...lead,
              price: page % 2 === 0 ? 0 : 7900,
              name: page % 2 === 0 ? 'zzz moved' : 'AAA moved',
              updatedAt: new Date(Date.UTC(2031, 0, 1) + page),
              closedAt: page % 2 === 0 ? null : new Date(0),
            }));
          for (const lead of updates) touched.add(lead.kommoId);
          store.upsert([...head, ...updates]);
          const gone = [String(((page * 53) % 500) + 1), String(((page * 17 + 9) % 500) + 1)];
          store.markDeleted(gone.slice(0, 1));
          store.remove(gone.slice(1));
          for (const id of gone) deleted.add(id);
        });
        expect(new Set(seen).size).toBe(seen.length);
        const allAlong = [...atStart].filter((id) => !deleted.has(id));
        const seenSet = new Set(seen);
        expect(allAlong.filter((id) => !seenSet.has(id))).toEqual([]);
        expect(touched.size).toBeGreaterThan(20);
        expect(deleted.size).toBeGreaterThan(20);
        // A lead deleted meanwhile stops appearing: whatever was seen was live when its page was read,
        // and the next walk, from the start, has none of the deleted leads.
        const again = walkForward(store, query, 100);
        expect(again.filter((id) => deleted.has(id))).toEqual([]);
        expect(store.query(query, { first: 1 }, SETTINGS).totalCount).toBe(again.length);
        // The orders kept up to date across the changes are the orders sorted afresh.
        const now = store.get(store.ids()).filter(keep) as Lead[];
        expect(again).toEqual(field ? expectedOrder(now, field, direction) : now.map((lead) => lead.kommoId));
      });
    }
  }

  it('a walk started after a change sees the new order', () => {
    const store = storeOf(makeLeads(20));
    store.upsert([makeLead(5, { price: -1 })]);
    expect(store.query({ orderBy: { field: 'PRICE' } }, { first: 1 }, SETTINGS).edges[0]?.node.kommoId).toBe('5');
  });
});

describe('cursors of another store instance (another replica, a restart)', () => {
  it('go on by sort value and id over the same data, for every order: no duplicate, no lead lost', () => {
    const leads = makeLeads(120);
    // Built in three batches: its versions run ahead of the other's, so its walks mean nothing there.
    const first = createLeadStore();
    for (const batch of [leads.slice(0, 40), leads.slice(40, 80), leads.slice(80)]) first.upsert(batch);
    const second = storeOf(leads);
    expect(first.version).toBeGreaterThan(second.version);
    for (const orderBy of [null, { field: 'PRICE' as const, direction: 'DESC' as const }, { field: 'NAME' as const }]) {
      const query: IndexQuery = { orderBy };
      const whole = walkForward(first, query, 500);
      const page = first.query(query, { first: 37 }, SETTINGS);
      // The rest of the walk on the other instance, whose versions mean nothing to the first one's cursor.
      const rest = walkForward(second, query, 500, undefined, page.pageInfo.endCursor);
      expect([...page.edges.map((edge) => edge.node.kommoId), ...rest]).toEqual(whole);
    }
  });
});
