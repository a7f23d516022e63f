/**
 * Deterministic demo data in the V4 warehouse's own row shapes: tag-exploded lead rows, one row
 * per (pipeline, status), user rows. The quirks the contract describes are in it on purpose:
 * 142/143 in every pipeline, deleted leads, system users ("0"), a responsible user that no longer
 * exists, JSON-string fields with a few non-JSON values, nulls and fields the gateway ignores.
 */

export type V4Row = Record<string, string | number | boolean | null>;

export interface DemoDataOptions {
  /** Number of leads (default 3000). */
  readonly leads?: number;
  /** PRNG seed (default 42): the same seed gives the same data. */
  readonly seed?: number;
}

export interface DemoData {
  readonly accountId: string;
  readonly leadRows: readonly V4Row[];
  readonly pipelineRows: readonly V4Row[];
  readonly userRows: readonly V4Row[];
  /** A responsible user id that no user row has. */
  readonly danglingUserId: string;
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

export function generateDemoData(options: DemoDataOptions = {}): DemoData {
  const random = mulberry32(options.seed ?? 42);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)] as T;
  const accountId = '31000001';
  const base = { account_id: accountId, integration_id: 'demo-integration', organization_id: 'demo-organization' };
  const inserted = '2026-11-01T03:00:00.000Z';

  const userRows: V4Row[] = [];
  for (let i = 0; i < 36; i += 1) {
    const [roleId, roleName] = pick(ROLES);
    const [groupId, groupName] = pick(GROUPS);
    const first = FIRST[i % FIRST.length] as string;
    const last = LAST[(i * 7) % LAST.length] as string;
    userRows.push({
      user_id: String(9000001 + i),
      user_name: `${first} ${last}`,
      email: `${first}.${last}${i}@demo.example`.toLowerCase(),
      role_id: String(roleId),
      role_name: roleName,
      group_id: String(groupId),
      group_name: groupName,
      is_admin: i < 2,
      is_active: i % 11 !== 10,
      ...base,
      workspace_id: null,
      inserted_at: inserted,
      unknown_future_column: 'ignored',
    });
  }
  const userIds = userRows.map((row) => String(row.user_id));
  const danglingUserId = '9099999';

  const pipelineRows: V4Row[] = [];
  const stagesByPipeline = new Map<number, number[]>();
  let statusId = 60000001;
  for (const [index, pipeline] of PIPELINES.entries()) {
    const statuses: [number, string, number, string][] = [[statusId++, 'Incoming leads', 1, '#c1c1c1']];
    for (const stage of pipeline.stages) statuses.push([statusId++, stage, 0, pick(['#99ccff', '#ffcc66', '#ffff99', '#ccff66'])]);
    statuses.push([142, 'Closed - won', 0, '#CCFF66'], [143, 'Closed - lost', 0, '#D5D8DB']);
    stagesByPipeline.set(
      pipeline.id,
      statuses.map(([id]) => id),
    );
    statuses.forEach(([id, name, type, color], sort) => {
      pipelineRows.push({
        pipeline_id: String(pipeline.id),
        pipeline_name: pipeline.name,
        pipeline_sort: index + 1,
        is_main: pipeline.isMain,
        is_archive: pipeline.isArchive,
        status_id: String(id),
        status_name: name,
        status_sort: id === 142 ? 10000 : id === 143 ? 11000 : (sort + 1) * 10,
        status_color: color,
        status_type: type,
        is_editable: id !== 142 && id !== 143 && type !== 1,
        ...base,
        workspace_id: null,
        inserted_at: inserted,
      });
    });
  }

  const leadRows: V4Row[] = [];
  const count = options.leads ?? 3000;
  for (let i = 0; i < count; i += 1) {
    const id = String(20000001 + i);
    const pipeline = random() < 0.55 ? (PIPELINES[0] as (typeof PIPELINES)[number]) : pick(PIPELINES);
    const status = pick(stagesByPipeline.get(pipeline.id) as number[]);
    // Whole seconds, as Kommo stores times (the V4 warehouse copies them).
    const createdMs = Math.floor((START + Math.floor((SPAN * i) / count) + Math.floor(random() * 3_600_000)) / 1000) * 1000;
    const updatedMs = createdMs + Math.floor(random() * 30 * 86_400) * 1000;
    const closed = status === 142 || status === 143;
    const responsible = random() < 0.02 ? danglingUserId : pick(userIds);
    const lossReason = status === 143 && random() < 0.8 ? pick(LOSS_REASONS) : null;
    const tagCount = Math.floor(random() * random() * 5);
    const tags = [...new Set(Array.from({ length: tagCount }, () => pick(TAGS)))];
    const tagJson = tags.map(([tagId, name, color]) => ({ id: tagId, name, color }));
    const contacts = Array.from({ length: Math.floor(random() * 3) }, (_, k) => 40000001 + ((i * 3 + k) % 9000));
    const source = random() < 0.6 ? pick(SOURCES) : null;
    const quirk = i % 97;
    const row: V4Row = {
      lead_id: id,
      lead_name: random() < 0.03 ? null : `${pick(PRODUCTS)} for ${pick(LAST)} ${['Ltda', 'S.A.', 'Group', 'Co'][i % 4]}`,
      status_id: String(status),
      price: random() < 0.03 ? null : Math.round(random() * 5000) * 10,
      responsible_user_id: responsible,
      group_id: String(pick(GROUPS)[0]),
      pipeline_id: String(pipeline.id),
      loss_reason_id: lossReason ? String(lossReason[0]) : null,
      created_by: random() < 0.15 ? '0' : pick(userIds),
      updated_by: random() < 0.25 ? '0' : pick(userIds),
      created_at: quirk === 13 ? 'not a date' : new Date(createdMs).toISOString(),
      updated_at: new Date(updatedMs).toISOString(),
      closed_at: closed ? new Date(updatedMs).toISOString() : null,
      closest_task_at: !closed && random() < 0.5 ? new Date(updatedMs + 86_400_000 * 3).toISOString() : null,
      is_deleted: random() < 0.04,
      custom_fields_values:
        quirk === 29
          ? 'not json'
          : JSON.stringify([
              {
                field_id: 5001,
                field_name: 'Budget',
                field_code: null,
                field_type: 'numeric',
                values: [{ value: String(Math.round(random() * 900) * 100) }],
              },
              {
                field_id: 5002,
                field_name: 'Segment',
                field_code: null,
                field_type: 'select',
                values: [{ value: pick(['SMB', 'Mid-market', 'Enterprise']), enum_id: 6001 + (i % 3), enum: null }],
              },
            ]),
      score: random() < 0.5 ? String(Math.floor(random() * 100)) : null,
      labor_cost: random() < 0.3 ? Math.floor(random() * 36_000) : null,
      source_id: source ? String(source[0]) : null,
      source_name: source ? source[1] : null,
      tags: quirk === 41 && tags.length > 0 ? tags.map(([, name]) => name).join(',') : tags.length > 0 ? JSON.stringify(tagJson) : '',
      contacts_ids: quirk === 53 ? `{${contacts.join(',')}}` : JSON.stringify(contacts),
      loss_reason: lossReason ? lossReason[1] : null,
      tag_id_first: tags[0] ? String(tags[0][0]) : null,
      tag_name_first: tags[0] ? tags[0][1] : null,
      tag_color_first: tags[0] ? tags[0][2] : null,
      ...base,
      workspace_id: null,
      document_id: `lead-${id}`,
      inserted_at: inserted,
    };
    const exploded = tags.length > 0 ? tags : [null];
    for (const tag of exploded) {
      leadRows.push({ ...row, tag_id: tag ? String(tag[0]) : null, tag_name: tag ? tag[1] : null, tag_color: tag ? tag[2] : null });
    }
  }
  return { accountId, leadRows, pipelineRows, userRows, danglingUserId };
}
