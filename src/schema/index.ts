import { builder } from '../builder.js';
import { describeFederationInternals } from './federation.js';
import './scalars.js';
import './values.js';
import './lead-filter.js';
import './pipeline.js';
import './status.js';
import './user.js';
import './lead.js';
import './lead-connection.js';
import './lead-stats.js';
import './lead-changes.js';
import { checkTimeZone } from '../index/stats.js';
import type { PageSettings } from '../pagination.js';
import { checkLeadsArguments } from './lead-connection.js';
import { kommoId } from './lead-filter.js';

builder.queryType({ description: 'Kommo lead data: leads with their pipelines, stages, people and tags.' });

/** The client contract: what frontend teams query (printed to schema/schema.graphql). */
export const schema = builder.toSchema({ sortSchema: false });

/** The same graph as a Federation v2 subgraph (adds `_service` and `_entities`); this is what the server serves. */
export const subgraphSchema = describeFederationInternals(
  builder.toSubGraphSchema({
    linkUrl: 'https://specs.apollo.dev/federation/v2.6',
    sortSchema: false,
  }),
);

/** Argument checks the resolvers make, for the call plan to make before any upstream call (src/plan.ts). */
export function checkArguments(settings: PageSettings): (coordinate: string, argument: (name: string) => unknown) => void {
  return (coordinate, argument) => {
    const [type, field] = coordinate.split('.');
    if (field === 'leads' && (type === 'Query' || type === 'Pipeline' || type === 'Status' || type === 'User')) {
      checkLeadsArguments({ first: argument('first'), last: argument('last'), filter: argument('filter') }, settings);
    } else if (type === 'Query' && field === 'leadStats') {
      checkLeadsArguments({ filter: argument('filter') }, settings);
    } else if (type === 'LeadStats' && field === 'groups') {
      const zone = argument('timeZone');
      if (typeof zone === 'string') checkTimeZone(zone);
    } else if (type === 'Query' && (field === 'lead' || field === 'pipeline' || field === 'user')) {
      const id = argument('kommoId');
      if (typeof id === 'string') kommoId(id, 'kommoId');
    }
  };
}
