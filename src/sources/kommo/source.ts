import { BadUserInputError, UpstreamError } from '../../errors.js';
import type { JsonGetter } from '../../transport/http.js';
import type { LeadBlock, LeadFragment, LeadQuery, LeadSource, User } from '../source.js';
import { type KommoList, parseLead, parseList, parsePipelines, parseUser } from './records.js';

export interface KommoSourceOptions {
  readonly transport: JsonGetter;
  /** Leads per upstream page (Kommo allows at most 250). */
  readonly blockSize: number;
}

const LEADS = '/api/v4/leads';
const PIPELINES = '/api/v4/leads/pipelines';
const USERS = '/api/v4/users';
const WITH_LEAD = 'contacts,loss_reason,source_id';
const KOMMO_MAX_LIMIT = 250;
/** Bounds every "follow _links.next" loop. */
const MAX_PAGES = 50;

const SOURCE = 'the kommo source';

/** Filters the Kommo leads API cannot apply: refused, never silently ignored. */
function checkKommoQuery(query: LeadQuery, includeDeleted: boolean): void {
  const refuse = (filter: string, why: string): never => {
    throw new BadUserInputError(`"filter.${filter}" is not supported by ${SOURCE}: ${why}`, `filter.${filter}`);
  };
  if (query.groupId !== undefined) refuse('groupId', 'the Kommo leads API has no group filter');
  if (query.lossReasonId !== undefined) refuse('lossReasonId', 'the Kommo leads API has no loss reason filter');
  if (query.tagId !== undefined) refuse('tagId', 'the Kommo leads API has no tag filter');
  if (query.tagName !== undefined) refuse('tagName', 'the Kommo leads API has no tag filter');
  if (query.statusId !== undefined && query.pipelineId === undefined) {
    refuse('statusId', 'Kommo identifies a stage by pipeline and status: add "pipelineId"');
  }
  if (includeDeleted) refuse('includeDeleted', 'the Kommo API does not return deleted leads with the others');
}

const unixFloor = (date: Date): string => String(Math.floor(date.getTime() / 1000));
const unixCeil = (date: Date): string => String(Math.ceil(date.getTime() / 1000));

/** `filter[...]` parameters. Ranges are widened to whole seconds; the gateway re-checks every lead exactly. */
function kommoLeadParams(query: LeadQuery): Record<string, string> {
  const params: Record<string, string> = {};
  if (query.pipelineId !== undefined && query.statusId !== undefined) {
    params['filter[statuses][0][pipeline_id]'] = query.pipelineId;
    params['filter[statuses][0][status_id]'] = query.statusId;
  } else if (query.pipelineId !== undefined) {
    params['filter[pipeline_id][]'] = query.pipelineId;
  }
  if (query.responsibleUserId !== undefined) params['filter[responsible_user_id][]'] = query.responsibleUserId;
  if (query.createdFrom) params['filter[created_at][from]'] = unixFloor(query.createdFrom);
  if (query.createdTo) params['filter[created_at][to]'] = unixCeil(query.createdTo);
  if (query.updatedFrom) params['filter[updated_at][from]'] = unixFloor(query.updatedFrom);
  if (query.updatedTo) params['filter[updated_at][to]'] = unixCeil(query.updatedTo);
  return params;
}

export function createKommoSource(options: KommoSourceOptions): LeadSource {
  const { transport, blockSize } = options;

  const getList = (
    path: string,
    key: string,
    query: Record<string, string>,
    signal: AbortSignal | undefined,
    cacheClass: 'leads' | 'reference',
  ) => transport.getJson<KommoList>({ path, query, cacheClass, decode: (body) => parseList(body, key, path), signal });

  return {
    blockSize,
    checkQuery: checkKommoQuery,

    async readLeadBlock(query, index, signal): Promise<LeadBlock> {
      const list = await getList(
        LEADS,
        'leads',
        { ...kommoLeadParams(query), with: WITH_LEAD, page: String(index + 1), limit: String(blockSize) },
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

    async getLead(kommoId, signal) {
      const list = await getList(LEADS, 'leads', { 'filter[id][]': kommoId, with: WITH_LEAD }, signal, 'leads');
      const lead = list.items.map(parseLead).find((candidate) => candidate?.kommoId === kommoId);
      return lead ?? null;
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

    async listUsers(signal) {
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
    },

    async getUser(kommoId, signal) {
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
    },
  };
}
