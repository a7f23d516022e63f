import SchemaBuilder from '@pothos/core';
import DataloaderPlugin from '@pothos/plugin-dataloader';
import DirectivePlugin from '@pothos/plugin-directives';
import FederationPlugin from '@pothos/plugin-federation';
import RelayPlugin from '@pothos/plugin-relay';
import type { Context } from './context.js';
import { BadUserInputError } from './errors.js';
import { parseGlobalId } from './global-id.js';

/** The one SchemaBuilder. Types live in src/schema/, one file each. */
export const builder = new SchemaBuilder<{
  Context: Context;
  /** Extra data every connection result carries, for `totalCount` and `totalCountUpperBound`. */
  Connection: { totalRows: number | null; count: () => Promise<number | null>; dataAsOf?: Date | null | undefined };
  DefaultFieldNullability: false;
  DefaultEdgesNullability: false;
  DefaultNodeNullability: false;
  Scalars: {
    DateTime: { Input: Date; Output: Date };
    ID: { Input: string; Output: string };
  };
}>({
  // Federation last: it wraps what the others define.
  plugins: [DirectivePlugin, RelayPlugin, DataloaderPlugin, FederationPlugin],
  defaultFieldNullability: false,
  // Directives as graphql-tools reads them, so codegen and printSubgraphSchema see @key and @shareable.
  directives: { useGraphQLToolsUnorderedDirectives: true },
  relay: {
    clientMutationId: 'omit',
    cursorType: 'String',
    idFieldOptions: { description: 'Global, opaque id of this object (Relay): pass it to `node(id:)`. Use `kommoId` for the Kommo id.' },
    edgesFieldOptions: { nullable: false, description: 'The items of this page, each with its cursor.' },
    nodeFieldOptions: { nullable: false, description: 'The item.' },
    cursorFieldOptions: { description: 'Opaque cursor of this item: pass it as `after` or `before`, with the same filter.' },
    pageInfoFieldOptions: { description: 'Where this page sits: whether more items follow or precede, and the cursors of its ends.' },
    hasNextPageFieldOptions: { description: 'True when more items follow this page (exact when paging with `first`).' },
    hasPreviousPageFieldOptions: { description: 'True when items precede this page (exact when paging with `last`).' },
    startCursorFieldOptions: { description: 'Cursor of the first item of this page; null when the page is empty.' },
    endCursorFieldOptions: {
      description: 'Cursor of the last item of this page; null when the page is empty. Pass it as `after` for the next page.',
    },
    firstArgOptions: { description: 'Page size, paging forward from `after` (0 to the configured maximum).' },
    afterArgOptions: { description: 'Cursor to page forward from (exclusive): `pageInfo.endCursor` of the previous page.' },
    lastArgOptions: { description: 'Page size, paging backward from `before` (0 to the configured maximum).' },
    beforeArgOptions: { description: 'Cursor to page backward from (exclusive): `pageInfo.startCursor` of the next page.' },
    nodeTypeOptions: { description: 'An object with a globally unique, opaque id (Relay). Fetch any of them with `node(id:)`.' },
    // Other Relay subgraphs define PageInfo too: composition needs it shareable in every one.
    pageInfoTypeOptions: { description: 'Where a page sits in its connection (Relay Cursor Connections).', shareable: true },
    nodeQueryOptions: {
      description: 'Fetches any object by its global `id` (the `id` field, not the Kommo id). Null when it does not exist.',
      args: { id: { description: 'The global id: the `id` field of a Lead, Pipeline, Status or User.' } },
    },
    nodesQueryOptions: {
      description: 'Fetches several objects by their global ids, in order; null where one does not exist.',
      args: { ids: { description: 'Global ids (`id` fields), answered in this order.' } },
    },
    decodeGlobalID: (globalID) => {
      const decoded = parseGlobalId(globalID);
      if (!decoded) throw new BadUserInputError(`"${globalID.slice(0, 60)}" is not an id of this API`, 'id');
      return decoded;
    },
  },
});
