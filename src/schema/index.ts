import { builder } from '../builder.js';
import './scalars.js';
import './values.js';
import './lead-filter.js';
import './pipeline.js';
import './status.js';
import './user.js';
import './lead.js';
import './lead-connection.js';

builder.queryType({ description: 'Kommo lead data: leads with their pipelines, stages, people and tags.' });

export const schema = builder.toSchema({ sortSchema: false });
