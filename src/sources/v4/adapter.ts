import { mapWithConcurrency } from '../../concurrency.js';
import { UpstreamError } from '../../errors.js';
import type { LeadReader } from '../../index/sync.js';
import type { CacheClass, JsonGetter } from '../../transport/http.js';
import {
  blocksOf,
  isCallLimit,
  type Lead,
  type LeadAdapter,
  type LeadBlock,
  type LeadFragment,
  type LeadQuery,
  lookUpOrUnresolved,
  mergeLeadFragments,
  type UnresolvedLead,
  type User,
} from '../adapter.js';
import { filterParams } from '../filters.js';
import { v4Filters } from './filters.js';
import { groupPipelineRows, leadFragment, parseEnvelope, parseLeadRow, parseUserRow, type V4Page } from './rows.js';

export interface V4AdapterOptions {
  readonly transport: JsonGetter;
  readonly workspaceId: string;
  readonly integrationId?: string | null | undefined;
  readonly organizationId?: string | null | undefined;
  /** The fixed upstream `limit` of a leads block (1..5000). */
  readonly blockSize: number;
  /** Upstream calls in flight when leads are looked up one id at a time. */
  readonly lookupConcurrency: number;
}

const LEADS = '/v1/kommo/leads';
const PIPELINES = '/v1/kommo/pipelines';
const USERS = '/v1/kommo/users';
/** The V4 API's largest `limit`; reference tables are read with it. */
const MAX_LIMIT = 5000;
/** Bounds every "follow hasNextPage" loop: 50 pages of 5000 rows is far past any real table. */
const MAX_PAGES = 50;

const SOURCE_NAME = 'the v4 source';
/** Below this many ids a lookup is one call per id; from it on, reading the table's blocks may cost less. */
const TABLE_LOOKUP_MIN_IDS = 5;
/**
 * After a whole-table read, ids it did not hold are asked for one by one, at most this many: the check
 * catches leads inserted since the table's blocks were cached; past it, the missing ids are reported
 * missing (many ids absent from a whole table do not exist, and a call each would spend the budget).
 */
const MISSING_ID_CHECKS = TABLE_LOOKUP_MIN_IDS - 1;
/** A table read is bounded too: past this many blocks (10,000 rows at the default size) ids go one call each. */
const TABLE_LOOKUP_MAX_BLOCKS = 20;

/** The wanted leads of consecutive blocks, each lead's adjacent rows merged (also across a block boundary). */
function leadsIn(blocks: readonly LeadBlock[], wanted: ReadonlySet<string>): Lead[] {
  const leads: Lead[] = [];
  let previous: string | null = null;
  for (const block of blocks) {
    for (const fragment of block.fragments) {
      const adjacent = fragment.kommoId === previous;
      previous = fragment.kommoId;
      if (!wanted.has(fragment.kommoId)) continue;
      const last = leads.at(-1);
      if (adjacent && last) leads[leads.length - 1] = mergeLeadFragments(last, fragment.lead);
      else leads.push(fragment.lead);
    }
  }
  return leads;
}

export function createV4Adapter(options: V4AdapterOptions): LeadAdapter {
  const { transport, blockSize } = options;
  const scope: Record<string, string> = { workspaceId: options.workspaceId };
  if (options.integrationId) scope.integrationId = options.integrationId;
  if (options.organizationId) scope.organizationId = options.organizationId;

  function getPage<T>(
    path: string,
    params: Record<string, string>,
    page: number,
    limit: number,
    decode: (page: V4Page) => T,
    signal?: AbortSignal,
    cacheClass: CacheClass | 'none' = path === LEADS ? 'leads' : 'reference',
  ): Promise<T> {
    return transport.getJson({
      path,
      query: { ...scope, ...params, page: String(page), limit: String(limit) },
      cacheClass,
      decode: (body) => decode(parseEnvelope(body, path)),
      signal,
    });
  }

  /** A leads block, decoded once into positioned fragments (the cache keeps them decoded). */
  function decodeBlock(page: V4Page, index: number): LeadBlock {
    // Offsets are computed from `limit`: an upstream that applies another limit would make us skip rows.
    const clamped =
      (page.limit !== null && page.limit !== blockSize) ||
      page.rows.length > blockSize ||
      (page.hasNextPage === true && page.rows.length < blockSize);
    if (clamped) {
      throw new UpstreamError(
        'UPSTREAM_BAD_RESPONSE',
        `V4 API GET ${LEADS} did not honour limit=${blockSize} (it answered ${page.rows.length} rows${
          page.limit !== null ? ` and limit=${page.limit}` : ''
        }); set LEADGRAPH_UPSTREAM_PAGE_SIZE to a limit it accepts`,
        { endpoint: LEADS },
      );
    }
    const fragments: LeadFragment[] = [];
    page.rows.forEach((row, offset) => {
      const fragment = leadFragment(row, index * blockSize + offset);
      if (fragment) fragments.push(fragment);
    });
    const isLast =
      page.hasNextPage === false || page.rows.length < blockSize || (page.totalRows !== null && (index + 1) * blockSize >= page.totalRows);
    return { fragments, isLast, totalRows: page.totalRows };
  }

  /** Every row of a small result, following `hasNextPage` (any limit the upstream applies is fine here). */
  async function getAllRows(path: string, params: Record<string, string>, signal?: AbortSignal) {
    const rows: V4Page['rows'][number][] = [];
    for (let page = 1; page <= MAX_PAGES; page += 1) {
      const result = await getPage(path, params, page, MAX_LIMIT, (decoded) => decoded, signal);
      rows.push(...result.rows);
      const more = result.hasNextPage ?? result.rows.length >= MAX_LIMIT;
      if (!more || result.rows.length === 0) return rows;
    }
    throw new UpstreamError('UPSTREAM_BAD_RESPONSE', `V4 API GET ${path} kept reporting more pages after ${MAX_PAGES}`, {
      endpoint: path,
    });
  }

  function readLeadBlock(query: LeadQuery, index: number, signal?: AbortSignal): Promise<LeadBlock> {
    return getPage(LEADS, filterParams(v4Filters, query, SOURCE_NAME), index + 1, blockSize, (page) => decodeBlock(page, index), signal);
  }

  /** One lead with all its rows merged; the V4 API filters by one lead id at a time. */
  async function getLead(kommoId: string, signal?: AbortSignal): Promise<Lead | null> {
    const rows = await getAllRows(LEADS, { leadId: kommoId }, signal);
    let lead: Lead | null = null;
    for (const row of rows) {
      const fragment = parseLeadRow(row);
      if (fragment?.kommoId !== kommoId) continue;
      lead = lead ? mergeLeadFragments(lead, fragment) : fragment;
    }
    return lead;
  }

  // The users table is one call; an adapter lives for one request, so it is read at most once.
  let users: Promise<readonly User[]> | undefined;
  const listUsers = (signal?: AbortSignal): Promise<readonly User[]> => {
    users ??= getAllRows(USERS, {}, signal).then((rows) => {
      const byId = new Map(
        rows
          .map(parseUserRow)
          .filter((user) => user !== null)
          .map((user) => [user.kommoId, user]),
      );
      return [...byId.values()];
    });
    return users;
  };

  /**
   * The index's reader: pages of the largest size the V4 API allows (5000 rows), every row (deleted
   * ones too, `is_deleted`), filtered by `lastModifiedStart` for a refresh. A lead's rows are merged
   * within the page; the sync joins a lead that straddles two pages.
   */
  const indexReader: LeadReader = {
    async readPage(since, page, signal) {
      const params: Record<string, string> = since ? { lastModifiedStart: since.toISOString() } : {};
      const { rows, more } = await getPage(
        LEADS,
        params,
        page + 1,
        MAX_LIMIT,
        (decoded) => ({ rows: decoded.rows, more: decoded.hasNextPage ?? decoded.rows.length >= MAX_LIMIT }),
        signal,
        'none', // the index keeps what it reads; 5,000-row pages would only crowd the cache
      );
      const leads: Lead[] = [];
      for (const row of rows) {
        const lead = parseLeadRow(row);
        if (!lead) continue;
        const last = leads.at(-1);
        if (last && last.kommoId === lead.kommoId) leads[leads.length - 1] = mergeLeadFragments(last, lead);
        else leads.push(lead);
      }
      return { leads, hasMore: more && rows.length > 0 };
    },
  };

  return {
    sourceName: SOURCE_NAME,
    indexReader,
    blockSize,
    filters: v4Filters,
    deletedLeads: 'listed',

    readLeadBlock,

    lookupCalls(ids, tableBlocks) {
      if (ids < TABLE_LOOKUP_MIN_IDS) return ids;
      if (typeof tableBlocks === 'number' && tableBlocks <= Math.min(ids, TABLE_LOOKUP_MAX_BLOCKS)) return tableBlocks + MISSING_ID_CHECKS;
      return 1 + ids; // the head block, then one call per id it does not hold
    },

    async getLeads(kommoIds, signal) {
      // One call per id; past the request's allowance an id is reported unresolved, not missing.
      const perId = async (ids: readonly string[]) =>
        (
          await mapWithConcurrency(ids, options.lookupConcurrency, (id) =>
            lookUpOrUnresolved([id], async () => {
              const lead = await getLead(id, signal);
              return lead ? [lead] : [];
            }),
          )
        ).flat();
      if (kommoIds.length < TABLE_LOOKUP_MIN_IDS) return perId(kommoIds);
      // The V4 API filters by one lead id a call. Many ids cost less as the blocks of the whole table
      // when it has fewer blocks than ids: its first block says how many there are (and is often cached).
      const head = await readLeadBlock({}, 0, signal);
      const blocks = blocksOf(head, blockSize);
      let found: (Lead | UnresolvedLead)[];
      let wholeTable = false;
      if (blocks !== null && blocks <= Math.min(kommoIds.length, TABLE_LOOKUP_MAX_BLOCKS)) {
        const rest = await mapWithConcurrency(
          Array.from({ length: blocks - 1 }, (_, i) => i + 1),
          options.lookupConcurrency,
          (index) => readLeadBlock({}, index, signal).catch((error: unknown) => (isCallLimit(error) ? error : Promise.reject(error))),
        );
        const read = rest.filter((block): block is LeadBlock => !(block instanceof Error));
        const limit = rest.find((block): block is Error => block instanceof Error);
        found = leadsIn([head, ...read], new Set(kommoIds));
        wholeTable = !limit;
        if (limit) {
          // Past the request's allowance the table was read in part: the ids it did not hold stay unresolved.
          const known = new Set(found.map((lead) => lead.kommoId));
          return [...found, ...kommoIds.filter((id) => !known.has(id)).map((kommoId) => ({ kommoId, unresolved: limit }))];
        }
      } else {
        // The head block answers the leads it holds whole (a lead on its last row may go on in the next block).
        const lastId = head.isLast ? null : (head.fragments.at(-1)?.kommoId ?? null);
        found = leadsIn([head], new Set(kommoIds)).filter((lead) => lead.kommoId !== lastId);
      }
      // The table moves under us (its blocks may be cached, rows are inserted and deleted): an id the blocks
      // did not hold is asked for on its own, so a lead inserted since is not reported missing; after a
      // whole-table read, only the first few (MISSING_ID_CHECKS).
      const known = new Set(found.map((lead) => lead.kommoId));
      const missing = kommoIds.filter((id) => !known.has(id));
      return [...found, ...(await perId(wholeTable ? missing.slice(0, MISSING_ID_CHECKS) : missing))];
    },

    async listPipelines(signal) {
      return groupPipelineRows(await getAllRows(PIPELINES, {}, signal));
    },

    listUsers,

    async getUsers(kommoIds, signal) {
      const wanted = new Set(kommoIds);
      return (await listUsers(signal)).filter((user) => wanted.has(user.kommoId));
    },
  };
}
