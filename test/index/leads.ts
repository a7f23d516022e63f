/** Generated leads for the index tests and bench: deterministic, with ties, nulls and mixed-case names. */
import { mulberry32 } from '../../src/demo/data.js';
import type { Lead, Tag } from '../../src/sources/adapter.js';

/** The demo's seeded PRNG: the same seed gives the same leads. */
export const random = mulberry32;

const WORDS = ['Alpha', 'beta', 'GAMMA', 'delta', 'Echo', 'foxtrot', 'Golf', 'hotel', 'India', 'juliet'];
export const TAGS: readonly Tag[] = [
  { kommoId: '501', name: 'VIP', color: '#ff0000' },
  { kommoId: '502', name: 'cold', color: null },
  { kommoId: '503', name: 'Referral', color: '#00ff00' },
  { kommoId: '504', name: 'vip', color: null },
];
const BASE = Date.UTC(2024, 0, 1);
const DAY = 86_400_000;

export function makeLead(id: number, overrides: Partial<Lead> = {}, seed = id): Lead {
  const next = random(seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)] as T;
  const createdAt = new Date(BASE + Math.floor(next() * 50) * DAY);
  const tags = TAGS.filter(() => next() < 0.3);
  return {
    kommoId: String(id),
    name: `${pick(WORDS)} ${pick(WORDS)} ${Math.floor(next() * 100)}`,
    price: Math.floor(next() * 20) * 500,
    pipelineId: pick(['10', '20', '30']),
    statusId: pick(['101', '102', '142', '143']),
    responsibleUserId: next() < 0.1 ? null : pick(['1', '2', '3', '4']),
    createdById: '1',
    updatedById: '0',
    groupId: pick(['0', '7']),
    lossReason: next() < 0.2 ? { kommoId: pick(['900', '901']), name: 'Too expensive' } : null,
    tags,
    contactIds: [String(id * 10), String(id * 10 + 1)],
    customFields: [
      {
        fieldId: '3001',
        name: 'Source channel',
        code: 'CHANNEL',
        type: 'select',
        values: [{ value: pick(['web', 'phone', 'mail']), enumId: '7001', enumCode: null }],
      },
    ],
    score: null,
    laborCostSeconds: null,
    source: null,
    createdAt,
    updatedAt: new Date(createdAt.getTime() + Math.floor(next() * 10) * DAY),
    closedAt: next() < 0.4 ? new Date(createdAt.getTime() + Math.floor(next() * 20) * DAY) : null,
    closestTaskAt: null,
    isDeleted: false,
    ...overrides,
  };
}

export function makeLeads(count: number, firstId = 1): Lead[] {
  return Array.from({ length: count }, (_, i) => makeLead(firstId + i));
}
