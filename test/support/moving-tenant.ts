/**
 * A demo account whose leads change under the gateway, as the real upstreams' do: inserts, updates,
 * deletions (V4: the row stays with `is_deleted: true`; Kommo: it moves to `with=only_deleted`),
 * leads that vanish without trace, a skewed upstream clock, and the V4 warehouse's load delay (V4
 * serves the rows as they were at its last load; Kommo sees every change at once).
 *
 * The tenant it returns is what the demo handler serves: its `account` (Kommo) and `v4` (V4) are
 * getters read on every request. An account nobody mutates serves the generated data as it is, with
 * no copy and no recomputation (the 100,000-lead benchmark tenant).
 */
import type { DemoAccount, DemoLead } from '../../src/demo/data.js';
import type { DemoTenant } from '../../src/demo/server.js';
import { type V4Row, type V4Tables, v4LeadRows } from '../../src/demo/v4.js';

/** A lead's fields as a change gives them: anything but its id. */
export type LeadFields = Partial<Omit<DemoLead, 'id'>>;

export interface LeadMutations {
  /**
   * A new lead with an id above every id the account has had; `createdAt` and `updatedAt` from the
   * upstream's clock unless `fields` gives them. `at` places it first or last in the list order both
   * APIs serve (V4: its rows, one per tag, adjacent). @default at 'tail'
   */
  insertLead(fields?: LeadFields, options?: { readonly at?: 'head' | 'tail' }): DemoLead;
  /** Changes a lead where it is (same position); `updatedAt` from the upstream's clock unless `change` gives it. */
  updateLead(id: number, change: LeadFields): DemoLead;
  /** Deletes a lead as Kommo does: `isDeleted` and a new `updatedAt` (V4 keeps the row; Kommo lists it under `with=only_deleted`). */
  deleteLead(id: number): DemoLead;
  /** Drops a lead from both APIs without trace (also from rows V4 holds back): only a full re-read notices. */
  vanishLead(id: number): void;
  /** The upstream's clock runs `ms` ahead of the real one (behind when negative) for every stamp it makes from now on. @default 0 */
  setClockSkew(ms: number): void;
  /** The upstream's clock: the real time plus the skew, in whole seconds (as Kommo stores times). */
  now(): Date;
  /**
   * true: the V4 API keeps serving the rows as they are now until `loadV4()` (Kommo sees changes at
   * once); false: loads what is held and stops holding. @default false
   */
  holdV4Loads(hold: boolean): void;
  /** Publishes the held changes to V4 in one batch, each with the `updatedAt` it got when it was made; holding goes on. */
  loadV4(): void;
}

export interface MovingTenant extends DemoTenant, LeadMutations {
  /** The account as Kommo serves it now (a getter). */
  readonly account: DemoAccount;
  /** The rows the V4 API serves now (a getter): those of the last load while loads are held. */
  readonly v4: V4Tables;
  /** The account as the V4 API serves it now (a getter): `account` without the changes held back. */
  readonly v4Account: DemoAccount;
}

interface V4View {
  readonly account: DemoAccount;
  readonly tables: V4Tables;
}

export function movingTenant(base: DemoTenant): MovingTenant {
  const { clientId, clientSecret, workspaceId, kommoToken } = base;
  const { accountId } = base.account;
  let account = base.account;
  let tables = base.v4;
  let tablesStale = false;
  let held: V4View | null = null;
  let skewMs = 0;
  let nextId: number | null = null;
  // A lead's rows are rendered once: an unchanged lead keeps its row objects (and the handler their JSON).
  const rowsOf = new WeakMap<DemoLead, readonly V4Row[]>();

  const currentTables = (): V4Tables => {
    if (tablesStale) {
      const leadRows = account.leads.flatMap((lead) => {
        let rows = rowsOf.get(lead);
        if (rows === undefined) {
          rows = v4LeadRows(lead, accountId, workspaceId);
          rowsOf.set(lead, rows);
        }
        return rows;
      });
      tables = { ...tables, leadRows };
      tablesStale = false;
    }
    return tables;
  };
  const now = (): Date => new Date(Math.floor((Date.now() + skewMs) / 1000) * 1000);
  const setLeads = (leads: readonly DemoLead[]): void => {
    account = { ...account, leads };
    tablesStale = true;
  };
  const indexOf = (id: number): number => {
    const index = account.leads.findIndex((lead) => lead.id === id);
    if (index < 0) throw new Error(`the test upstream has no lead ${id}`);
    return index;
  };

  const updateLead = (id: number, change: LeadFields): DemoLead => {
    const index = indexOf(id);
    const lead: DemoLead = { ...(account.leads[index] as DemoLead), updatedAt: now(), ...change, id };
    const leads = [...account.leads];
    leads[index] = lead;
    setLeads(leads);
    return lead;
  };

  return {
    clientId,
    clientSecret,
    workspaceId,
    kommoToken,
    get account() {
      return account;
    },
    get v4() {
      return held ? held.tables : currentTables();
    },
    get v4Account() {
      return held ? held.account : account;
    },
    insertLead: (fields = {}, options = {}) => {
      nextId ??= account.leads.reduce((max, lead) => Math.max(max, lead.id), 0) + 1;
      const id = nextId;
      nextId += 1;
      const stamp = now();
      const pipeline = account.pipelines.find((candidate) => candidate.isMain) ?? account.pipelines[0];
      const lead: DemoLead = {
        name: `New lead ${id}`,
        price: 0,
        pipelineId: pipeline?.id ?? 0,
        statusId: pipeline?.statuses[0]?.id ?? 0,
        responsibleUserId: account.users[0]?.id ?? 0,
        groupId: 0,
        lossReason: null,
        createdBy: 0,
        updatedBy: 0,
        createdAt: stamp,
        updatedAt: stamp,
        closedAt: null,
        closestTaskAt: null,
        isDeleted: false,
        customFields: [],
        score: null,
        laborCost: null,
        source: null,
        tags: [],
        contactIds: [],
        ...fields,
        id,
      };
      setLeads(options.at === 'head' ? [lead, ...account.leads] : [...account.leads, lead]);
      return lead;
    },
    updateLead,
    deleteLead: (id) => updateLead(id, { isDeleted: true }),
    vanishLead: (id) => {
      const index = indexOf(id);
      setLeads(account.leads.filter((_, at) => at !== index));
      if (held) {
        // The warehouse dropped it: gone from the rows V4 serves now, not only from the next load.
        const leadId = String(id);
        held = {
          account: { ...held.account, leads: held.account.leads.filter((lead) => lead.id !== id) },
          tables: { ...held.tables, leadRows: held.tables.leadRows.filter((row) => row.lead_id !== leadId) },
        };
      }
    },
    setClockSkew: (ms) => {
      skewMs = ms;
    },
    now,
    holdV4Loads: (hold) => {
      if (!hold) held = null;
      else held ??= { account, tables: currentTables() };
    },
    loadV4: () => {
      if (held) held = { account, tables: currentTables() };
    },
  };
}
