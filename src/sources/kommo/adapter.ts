import { mapWithConcurrency } from '../../concurrency.js';
import { UpstreamError } from '../../errors.js';
import type { LeadReader } from '../../index/sync.js';
import type { CacheClass, JsonGetter, UpstreamQuery } from '../../transport/http.js';
import {
  isUnresolved,
  type Lead,
  type LeadAdapter,
  type LeadBlock,
  type LeadFragment,
  lookUpOrUnresolved,
  type UnresolvedLead,
  type User,
} from '../adapter.js';
import { filterParams } from '../filters.js';
import { kommoFilters } from './filters.js';
import { type KommoList, parseLead, parseList, parsePipelines, parseUser } from './records.js';

export interface KommoAdapterOptions {
  readonly transport: JsonGetter;
  /** Leads per upstream page (Kommo allows at most 250). */
  readonly blockSize: number;
  /** Upstream calls in flight when users are looked up one at a time. */
  readonly lookupConcurrency: number;
}

const LEADS = '/api/v4/leads';
const PIPELINES = '/api/v4/leads/pipelines';
const USERS = '/api/v4/users';
const WITH_LEAD = 'contacts,loss_reason,source_id';
const KOMMO_MAX_LIMIT = 250;
/** Bounds every "follow _links.next" loop. */
const MAX_PAGES = 50;

const SOURCE_NAME = 'the kommo source';
/** Ids per `filter[id][]` lookup: a page holds at most 250 leads. */
const IDS_PER_CALL = KOMMO_MAX_LIMIT;

export function createKommoAdapter(options: KommoAdapterOptions): LeadAdapter {
  const { transport, blockSize } = options;

  const getList = (path: string, key: string, query: UpstreamQuery, signal: AbortSignal | undefined, cacheClass: CacheClass | 'none') =>
    transport.getJson<KommoList>({ path, query, cacheClass, decode: (body) => parseList(body, key, path), signal });

  /** The leads with these ids: `filter[id][]` takes a list, one call per 250 ids. */
  async function lookUp(kommoIds: readonly string[], withs: string, signal?: AbortSignal): Promise<(Lead | UnresolvedLead)[]> {
    const chunks: string[][] = [];
    for (let start = 0; start < kommoIds.length; start += IDS_PER_CALL) chunks.push(kommoIds.slice(start, start + IDS_PER_CALL));
    const wanted = new Set(kommoIds);
    // Past the request's allowance, a chunk's ids are unresolved (their fields get the error), not missing.
    const pages = await mapWithConcurrency(chunks, options.lookupConcurrency, (ids) =>
      lookUpOrUnresolved(ids, async () => {
        const list = await getList(LEADS, 'leads', { 'filter[id][]': ids, with: withs, limit: String(KOMMO_MAX_LIMIT) }, signal, 'leads');
        return list.items.map(parseLead).filter((lead): lead is Lead => lead !== null && wanted.has(lead.kommoId));
      }),
    );
    return pages.flat();
  }

  async function getUser(kommoId: string, signal?: AbortSignal): Promise<User | null> {
    const path = `${USERS}/${kommoId}`;
    try {
      return await transport.getJson({
        path,
        query: { with: 'role,group' },
        cacheClass: 'reference',
        decode: (body) => (body && typeof body === 'object' ? parseUser(body as Record<string, unknown>) : null),
        signal,
      });
    } catch (error) {
      // Kommo answers 404 (or 204) for a user id it does not know: that is a missing user, not a failure.
      if (error instanceof UpstreamError && error.status === 404) return null;
      throw error;
    }
  }

  async function readUsers(signal?: AbortSignal): Promise<readonly User[]> {
    const users: User[] = [];
    for (let page = 1; page <= MAX_PAGES; page += 1) {
      const list = await getList(
        USERS,
        'users',
        { page: String(page), limit: String(KOMMO_MAX_LIMIT), with: 'role,group' },
        signal,
        'reference',
      );
      for (const item of list.items) {
        const user = parseUser(item);
        if (user) users.push(user);
      }
      if (!list.hasNext) return users;
    }
    throw new UpstreamError('UPSTREAM_BAD_RESPONSE', `Kommo API GET ${USERS} kept reporting more pages after ${MAX_PAGES}`, {
      endpoint: USERS,
    });
  }
  // An adapter lives for one request: the users table is read at most once per request.
  let users: Promise<readonly User[]> | undefined;
  const listUsers = (signal?: AbortSignal): Promise<readonly User[]> => {
    users ??= readUsers(signal);
    return users;
  };

  const unixSeconds = (date: Date): string => String(Math.floor(date.getTime() / 1000));

  /**
   * The index's reader: 250 leads a page (Kommo's most), oldest change first; a refresh filters on
   * `filter[updated_at][from]`. Deleted leads leave the normal list: `readDeleted` lists them with
   * `with=only_deleted`.
   */
  const indexReader: LeadReader = {
    async readPage(since, page, signal) {
      const query: Record<string, string> = {
        with: WITH_LEAD,
        page: String(page + 1),
        limit: String(KOMMO_MAX_LIMIT),
      };
      // A full read in id order: a lead changed meanwhile keeps its place (in updated_at order it would move
      // to the end, shifting the pages after it: a lead skipped). Changes are read oldest first: one made
      // meanwhile moves later, and the next refresh's overlap reads it again.
      if (since) {
        query['order[updated_at]'] = 'asc';
        query['filter[updated_at][from]'] = unixSeconds(since);
      } else {
        query['order[id]'] = 'asc';
      }
      // Never cached: the index keeps what it reads.
      const list = await getList(LEADS, 'leads', query, signal, 'none');
      const leads = list.items.map(parseLead).filter((lead): lead is Lead => lead !== null);
      return { leads, hasMore: list.hasNext && list.items.length > 0 };
    },
    async readDeleted(since, signal) {
      const ids: string[] = [];
      for (let page = 1; page <= MAX_PAGES; page += 1) {
        const list = await getList(
          LEADS,
          'leads',
          { with: 'only_deleted', page: String(page), limit: String(KOMMO_MAX_LIMIT), 'filter[updated_at][from]': unixSeconds(since) },
          signal,
          'none',
        );
        for (const item of list.items) {
          const lead = parseLead(item);
          if (lead) ids.push(lead.kommoId);
        }
        if (!list.hasNext || list.items.length === 0) return ids;
      }
      throw new UpstreamError(
        'UPSTREAM_BAD_RESPONSE',
        `Kommo API GET ${LEADS} kept reporting more deleted leads after ${MAX_PAGES} pages`,
        {
          endpoint: LEADS,
        },
      );
    },
  };

  return {
    sourceName: SOURCE_NAME,
    indexReader,
    blockSize,
    filters: kommoFilters,
    deletedLeads: { refuse: 'the Kommo API does not return deleted leads with the others' },

    async readLeadBlock(query, index, signal): Promise<LeadBlock> {
      const list = await getList(
        LEADS,
        'leads',
        { ...filterParams(kommoFilters, query, SOURCE_NAME), with: WITH_LEAD, page: String(index + 1), limit: String(blockSize) },
        signal,
        'leads',
      );
      const fragments: LeadFragment[] = [];
      list.items.forEach((item, offset) => {
        const lead = parseLead(item);
        if (lead) fragments.push({ kommoId: lead.kommoId, lead, position: index * blockSize + offset });
      });
      // No totals for leads: there is a next page while `_links.next` is present.
      return { fragments, isLast: !list.hasNext || list.items.length === 0, totalRows: null };
    },

    // One call per 250 ids, and as many again at most for the ids the normal list misses (deleted ones).
    lookupCalls: (ids) => 2 * Math.ceil(ids / IDS_PER_CALL),

    async getLeads(kommoIds, signal) {
      const found = await lookUp(kommoIds, WITH_LEAD, signal);
      const known = new Set(found.map((lead) => lead.kommoId));
      const missing = kommoIds.filter((id) => !known.has(id));
      if (missing.length === 0) return found;
      // Deleted leads leave Kommo's normal list; `with=only_deleted` finds them (with little more than their id).
      const deleted = await lookUp(missing, 'only_deleted', signal);
      return [...found, ...deleted.map((lead) => (isUnresolved(lead) ? lead : { ...lead, isDeleted: true }))];
    },

    async listPipelines(signal) {
      return transport.getJson({
        path: PIPELINES,
        query: {},
        cacheClass: 'reference',
        decode: (body) => parsePipelines(body, PIPELINES),
        signal,
      });
    },

    listUsers,

    async getUsers(kommoIds, signal) {
      try {
        const wanted = new Set(kommoIds);
        return (await listUsers(signal)).filter((user) => wanted.has(user.kommoId));
      } catch (error) {
        // A token without admin rights may not list users (403): fetch the ones needed, one by one.
        if (!(error instanceof UpstreamError && error.code === 'UPSTREAM_FORBIDDEN')) throw error;
        const found = await mapWithConcurrency(kommoIds, options.lookupConcurrency, (id) => getUser(id, signal));
        return found.filter((user) => user !== null);
      }
    },
  };
}
