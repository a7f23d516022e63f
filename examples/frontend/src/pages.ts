/**
 * What the app's pages load: the dashboard's first page, the next pages, one lead. Each row is read
 * through its fragment (`useFragment`): the page only passes rows on, the row sees only its own fields.
 */
import type { Execute } from './client.js';
import { type FragmentType, useFragment } from './gql/fragment-masking.js';
import { DashboardDocument, LeadDetailDocument, type LeadDetailQuery, LeadRowFragmentDoc, NextPageDocument } from './gql/graphql.js';

export interface Row {
  readonly kommoId: string;
  readonly name: string;
  readonly price: number;
  readonly stage: string;
  readonly owner: string;
  readonly tags: string;
}

/** The row component's view of a lead: it may read only what LeadRow selects. */
export function toRow(lead: FragmentType<typeof LeadRowFragmentDoc>): Row {
  const row = useFragment(LeadRowFragmentDoc, lead);
  return {
    kommoId: row.kommoId,
    name: row.name,
    price: row.price,
    stage: `${row.pipeline?.name ?? '?'} / ${row.status?.name ?? '?'}`,
    owner: row.responsibleUser?.name ?? '(nobody)',
    tags: row.tags.map((tag) => tag.name).join(', '),
  };
}

export interface Page {
  readonly rows: readonly Row[];
  /** Pass it to `nextPage`; null on the last page. */
  readonly after: string | null;
}

export async function dashboard(execute: Execute, first = 25): Promise<Page & { readonly totalAtMost: number | null }> {
  const { data } = await execute(DashboardDocument, { first });
  return {
    rows: data.leads.edges.map((edge) => toRow(edge.node)),
    after: data.leads.pageInfo.hasNextPage ? data.leads.pageInfo.endCursor : null,
    totalAtMost: data.leads.totalCountUpperBound,
  };
}

export async function nextPage(execute: Execute, after: string, first = 25): Promise<Page> {
  const { data } = await execute(NextPageDocument, { after, first });
  return {
    rows: data.leads.edges.map((edge) => toRow(edge.node)),
    after: data.leads.pageInfo.hasNextPage ? data.leads.pageInfo.endCursor : null,
  };
}

export async function leadDetail(execute: Execute, kommoId: string): Promise<LeadDetailQuery['lead']> {
  const { data } = await execute(LeadDetailDocument, { kommoId });
  return data.lead;
}
