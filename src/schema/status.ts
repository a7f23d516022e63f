import { builder } from '../builder.js';
import type { Status as StatusShape } from '../sources/adapter.js';
import { Pipeline, Status } from './refs.js';

const WON = '142';
const LOST = '143';

export const StatusKind = builder.enumType('StatusKind', {
  description: 'What a stage means for the leads in it.',
  values: {
    INCOMING: { description: 'The incoming (unsorted) stage, where new leads from integrations land.' },
    IN_PROGRESS: { description: 'A regular working stage.' },
    WON: { description: 'Closed - won (status 142).' },
    LOST: { description: 'Closed - lost (status 143).' },
  } as const,
});

export function statusKind(status: StatusShape): 'INCOMING' | 'IN_PROGRESS' | 'WON' | 'LOST' {
  if (status.kommoId === WON) return 'WON';
  if (status.kommoId === LOST) return 'LOST';
  return status.type === 1 ? 'INCOMING' : 'IN_PROGRESS';
}

Status.implement({
  description: 'A stage of a pipeline. Identified by pipeline and status id together: 142 (won) and 143 (lost) exist in every pipeline.',
  fields: (t) => ({
    kommoId: t.exposeID('kommoId', { description: 'The Kommo status id (unique only within its pipeline for 142 and 143).' }),
    name: t.exposeString('name', { description: 'The stage name.' }),
    color: t.exposeString('color', { nullable: true, description: 'The stage colour (a hex code).' }),
    sort: t.exposeInt('sort', { nullable: true, description: 'Its position within the pipeline.' }),
    kind: t.field({ type: StatusKind, description: 'What the stage means: incoming, in progress, won or lost.', resolve: statusKind }),
    isEditable: t.exposeBoolean('isEditable', { nullable: true, description: 'Whether users may rename or remove it in Kommo.' }),
    pipeline: t.field({ type: Pipeline, description: 'The pipeline this stage belongs to.', resolve: (status) => status.pipelineId }),
  }),
});
