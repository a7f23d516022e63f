/** How a field that only the lead index can answer gets the tenant's index, or the error that says why not. */
import type { Context } from '../context.js';
import { DomainError } from '../errors.js';
import type { TenantIndex } from '../index/registry.js';

/**
 * The tenant's index once it serves: waits for its first read up to LEADGRAPH_INDEX_WAIT_MS, then fails
 * with INDEX_NOT_READY (and `retryAfter`, and the cause when the read failed) or INDEX_UNAVAILABLE.
 * `what` starts the message: the field, or the argument, that needs the index.
 */
export async function readyIndex(context: Context, what: string): Promise<TenantIndex> {
  if (context.index) return context.index;
  if (!context.indexing.enabled)
    throw new DomainError('INDEX_UNAVAILABLE', `${what}, and the lead index is off here (LEADGRAPH_INDEX=off)`);
  const index = await context.openIndex();
  if (index && (index.ready || (await index.whenReady(context.indexing.waitMs, context.signal)))) return index;
  if (index?.state === 'full') {
    throw new DomainError(
      'INDEX_UNAVAILABLE',
      `${what}, and this tenant has more leads than the index holds (LEADGRAPH_INDEX_MAX_LEADS): it is served without it`,
    );
  }
  const retryAfter = index?.retryAfterSeconds() ?? 1;
  const failure = index?.failure;
  throw new DomainError(
    'INDEX_NOT_READY',
    failure
      ? `${what}, and this tenant's lead index could not read its first snapshot (${failure.code}: ${failure.message}); it tries again in ${retryAfter} s`
      : `${what}, and this tenant's lead index is still reading its first snapshot; retry in ${retryAfter} s`,
    { retryAfter, ...(failure ? { cause: failure.code } : {}) },
  );
}
