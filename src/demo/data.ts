/**
 * The demo account as plain records: leads with their tags, pipelines with their statuses, users.
 * Neither API's shape lives here; `v4.ts` and `kommo.ts` each render these records their own way.
 * The quirks the upstream contract describes are in the data on purpose: 142/143 in every pipeline,
 * deleted leads, the system user (0), a responsible user that no longer exists, nulls, and a few
 * leads whose V4 warehouse row holds text that is not the JSON copy it should be (`v4Text`).
 */

export interface DemoDataOptions {
  /** Number of leads (default 3000). */
  readonly leads?: number;
  /** PRNG seed (default 42): the same seed gives the same data. */
  readonly seed?: number;
}

export interface DemoIdName {
  readonly id: number;
  readonly name: string;
}

export interface DemoTag {
  readonly id: number;
  readonly name: string;
  readonly color: string;
}

export interface DemoFieldValue {
  readonly value: string;
  /** The chosen option of a select field. */
  readonly enum?: { readonly id: number; readonly code: string | null };
}

export interface DemoCustomField {
  readonly fieldId: number;
  readonly name: string;
  readonly code: string | null;
  readonly type: string;
  readonly values: readonly DemoFieldValue[];
}

/** The V4 columns a warehouse row may hold as raw text instead of the value's JSON copy. */
export type V4TextColumn = 'created_at' | 'custom_fields_values' | 'tags' | 'contacts_ids';

export interface DemoLead {
  readonly id: number;
  readonly name: string | null;
  readonly price: number | null;
  readonly pipelineId: number;
  readonly statusId: number;
  readonly responsibleUserId: number;
  readonly groupId: number;
  readonly lossReason: DemoIdName | null;
  /** 0 is the system or a robot, not a user. */
  readonly createdBy: number;
  readonly updatedBy: number;
  /** Null where the account has lost it (the warehouse then holds garbage, see `v4Text`). */
  readonly createdAt: Date | null;
  readonly updatedAt: Date;
  readonly closedAt: Date | null;
  readonly closestTaskAt: Date | null;
  readonly isDeleted: boolean;
  readonly customFields: readonly DemoCustomField[];
  readonly score: number | null;
  /** Seconds. */
  readonly laborCost: number | null;
  readonly source: DemoIdName | null;
  readonly tags: readonly DemoTag[];
  readonly contactIds: readonly number[];
  /** What the V4 warehouse row holds in these columns instead of the rendered value. */
  readonly v4Text?: Readonly<Partial<Record<V4TextColumn, string>>>;
}

export interface DemoStatus {
  readonly id: number;
  readonly name: string;
  readonly sort: number;
  readonly color: string;
  /** 1 = incoming (unsorted) stage, 0 = regular. */
  readonly type: number;
  readonly isEditable: boolean;
}

export interface DemoPipeline {
  readonly id: number;
  readonly name: string;
  readonly sort: number;
  readonly isMain: boolean;
  readonly isArchive: boolean;
  readonly statuses: readonly DemoStatus[];
}

export interface DemoUser {
  readonly id: number;
  readonly name: string;
  readonly email: string;
  readonly role: DemoIdName;
  readonly group: DemoIdName;
  readonly isAdmin: boolean;
  readonly isActive: boolean;
}

export interface DemoAccount {
  readonly accountId: number;
  readonly leads: readonly DemoLead[];
  readonly pipelines: readonly DemoPipeline[];
  readonly users: readonly DemoUser[];
  /** A responsible user id that no user has. */
  readonly danglingUserId: number;
}

/** A small seeded PRNG: the same seed gives the same sequence. */
export function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const FIRST = [
  'Ana',
  'Bruno',
  'Carla',
  'Diego',
  'Elena',
  'Felipe',
  'Gabriela',
  'Hugo',
  'Isabel',
  'Javier',
  'Karina',
  'Lucas',
  'Marina',
  'Nicolas',
  'Olivia',
  'Pablo',
];
const LAST = ['Silva', 'Santos', 'Oliveira', 'Souza', 'Lima', 'Pereira', 'Costa', 'Rodrigues', 'Almeida', 'Gomez', 'Martinez', 'Fernandez'];
const PRODUCTS = ['CRM seats', 'Onboarding', 'WhatsApp channel', 'Annual plan', 'Consulting', 'Integration', 'Training', 'Support pack'];
const TAGS: readonly [number, string, string][] = [
  [101, 'hot', '#ff0000'],
  [102, 'vip', '#ffd700'],
  [103, 'webinar', '#00aaff'],
  [104, 'referral', '#33cc33'],
  [105, 'instagram', '#c13584'],
  [106, 'whatsapp', '#25d366'],
  [107, 'enterprise', '#444444'],
  [108, 'smb', '#999999'],
  [109, 'renewal', '#8a2be2'],
  [110, 'upsell', '#ff8c00'],
  [111, 'cold', '#87ceeb'],
  [112, 'event-2026', '#dc143c'],
];
const PIPELINES: readonly { id: number; name: string; stages: string[]; isMain: boolean; isArchive: boolean }[] = [
  { id: 7000001, name: 'Sales', stages: ['Qualification', 'Meeting', 'Proposal', 'Negotiation'], isMain: true, isArchive: false },
  { id: 7000002, name: 'Partners', stages: ['Contacted', 'Agreement sent', 'Onboarding'], isMain: false, isArchive: false },
  { id: 7000003, name: 'Renewals', stages: ['Due in 90 days', 'Offer sent', 'Invoice'], isMain: false, isArchive: false },
  { id: 7000004, name: 'Events 2024', stages: ['Registered', 'Attended'], isMain: false, isArchive: true },
];
const LOSS_REASONS: readonly [number, string][] = [
  [501, 'Too expensive'],
  [502, 'Chose a competitor'],
  [503, 'No budget'],
  [504, 'No answer'],
];
const SOURCES: readonly [number, string][] = [
  [801, 'Website form'],
  [802, 'WhatsApp'],
  [803, 'Instagram'],
  [804, 'Partner referral'],
];
const ROLES: readonly [number, string][] = [
  [1, 'Sales manager'],
  [2, 'Account executive'],
  [3, 'SDR'],
];
const GROUPS: readonly [number, string][] = [
  [0, 'Main group'],
  [301, 'Inbound'],
  [302, 'Outbound'],
];

const START = Date.UTC(2025, 0, 1);
const SPAN = Date.UTC(2026, 9, 31) - START;

export function generateDemoAccount(options: DemoDataOptions = {}): DemoAccount {
  const random = mulberry32(options.seed ?? 42);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)] as T;
  const idName = ([id, name]: readonly [number, string]): DemoIdName => ({ id, name });

  const users: DemoUser[] = [];
  for (let i = 0; i < 36; i += 1) {
    const role = idName(pick(ROLES));
    const group = idName(pick(GROUPS));
    const first = FIRST[i % FIRST.length] as string;
    const last = LAST[(i * 7) % LAST.length] as string;
    users.push({
      id: 9000001 + i,
      name: `${first} ${last}`,
      email: `${first}.${last}${i}@demo.example`.toLowerCase(),
      role,
      group,
      isAdmin: i < 2,
      isActive: i % 11 !== 10,
    });
  }
  const userIds = users.map((user) => user.id);
  const danglingUserId = 9099999;

  const pipelines: DemoPipeline[] = [];
  let nextStatusId = 60000001;
  for (const [index, pipeline] of PIPELINES.entries()) {
    const stages: [number, string, number, string][] = [[nextStatusId++, 'Incoming leads', 1, '#c1c1c1']];
    for (const stage of pipeline.stages) stages.push([nextStatusId++, stage, 0, pick(['#99ccff', '#ffcc66', '#ffff99', '#ccff66'])]);
    stages.push([142, 'Closed - won', 0, '#CCFF66'], [143, 'Closed - lost', 0, '#D5D8DB']);
    pipelines.push({
      id: pipeline.id,
      name: pipeline.name,
      sort: index + 1,
      isMain: pipeline.isMain,
      isArchive: pipeline.isArchive,
      statuses: stages.map(([id, name, type, color], sort) => ({
        id,
        name,
        sort: id === 142 ? 10000 : id === 143 ? 11000 : (sort + 1) * 10,
        color,
        type,
        isEditable: id !== 142 && id !== 143 && type !== 1,
      })),
    });
  }

  // The draws below keep their order: the same seed gives the same leads as before this was a model.
  const leads: DemoLead[] = [];
  const count = options.leads ?? 3000;
  for (let i = 0; i < count; i += 1) {
    const pipeline = random() < 0.55 ? (pipelines[0] as DemoPipeline) : pick(pipelines);
    const statusId = pick(pipeline.statuses).id;
    // Whole seconds, as Kommo stores times.
    const createdMs = Math.floor((START + Math.floor((SPAN * i) / count) + Math.floor(random() * 3_600_000)) / 1000) * 1000;
    const updatedAt = new Date(createdMs + Math.floor(random() * 30 * 86_400) * 1000);
    const closed = statusId === 142 || statusId === 143;
    const responsibleUserId = random() < 0.02 ? danglingUserId : pick(userIds);
    const lossReason = statusId === 143 && random() < 0.8 ? idName(pick(LOSS_REASONS)) : null;
    const tagCount = Math.floor(random() * random() * 5);
    const tags = [...new Set(Array.from({ length: tagCount }, () => pick(TAGS)))].map(([id, name, color]) => ({ id, name, color }));
    const contactIds = Array.from({ length: Math.floor(random() * 3) }, (_, k) => 40000001 + ((i * 3 + k) % 9000));
    const source = random() < 0.6 ? idName(pick(SOURCES)) : null;
    const name = random() < 0.03 ? null : `${pick(PRODUCTS)} for ${pick(LAST)} ${['Ltda', 'S.A.', 'Group', 'Co'][i % 4]}`;
    const price = random() < 0.03 ? null : Math.round(random() * 5000) * 10;
    const groupId = pick(GROUPS)[0];
    const createdBy = random() < 0.15 ? 0 : pick(userIds);
    const updatedBy = random() < 0.25 ? 0 : pick(userIds);
    const closestTaskAt = !closed && random() < 0.5 ? new Date(updatedAt.getTime() + 86_400_000 * 3) : null;
    const isDeleted = random() < 0.04;
    // A few leads whose V4 row holds text that is not the JSON copy: what is lost there is lost in the account too.
    const quirk = i % 97;
    const v4Text: Partial<Record<V4TextColumn, string>> = {};
    if (quirk === 13) v4Text.created_at = 'not a date';
    if (quirk === 29) v4Text.custom_fields_values = 'not json';
    if (quirk === 41 && tags.length > 0) v4Text.tags = tags.map((tag) => tag.name).join(',');
    if (quirk === 53) v4Text.contacts_ids = `{${contactIds.join(',')}}`;
    const customFields: DemoCustomField[] =
      quirk === 29
        ? []
        : [
            {
              fieldId: 5001,
              name: 'Budget',
              code: null,
              type: 'numeric',
              values: [{ value: String(Math.round(random() * 900) * 100) }],
            },
            {
              fieldId: 5002,
              name: 'Segment',
              code: null,
              type: 'select',
              values: [{ value: pick(['SMB', 'Mid-market', 'Enterprise']), enum: { id: 6001 + (i % 3), code: null } }],
            },
          ];
    const score = random() < 0.5 ? Math.floor(random() * 100) : null;
    const laborCost = random() < 0.3 ? Math.floor(random() * 36_000) : null;
    leads.push({
      id: 20000001 + i,
      name,
      price,
      pipelineId: pipeline.id,
      statusId,
      responsibleUserId,
      groupId,
      lossReason,
      createdBy,
      updatedBy,
      createdAt: quirk === 13 ? null : new Date(createdMs),
      updatedAt,
      closedAt: closed ? updatedAt : null,
      closestTaskAt,
      isDeleted,
      customFields,
      score,
      laborCost,
      source,
      tags,
      contactIds,
      ...(Object.keys(v4Text).length > 0 ? { v4Text } : {}),
    });
  }
  return { accountId: 31000001, leads, pipelines, users, danglingUserId };
}
