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
