/** The two things every entity keyed by its Kommo id has: a root field that fetches one, and a federation key. */
import type { ImplementableLoadableNodeRef } from '@pothos/plugin-dataloader';
import { builder } from '../builder.js';
import { kommoId, parseKommoId } from './lead-filter.js';

type Types = typeof builder extends PothosSchemaTypes.SchemaBuilder<infer T> ? T : never;
type EntityRef<Shape> = ImplementableLoadableNodeRef<Types, string | Shape, Shape, string, string, string>;

/** `Query.<field>(kommoId: ID!)`: one entity through its loader; a malformed id is BAD_USER_INPUT. */
export function entityByKommoIdField<Shape>(ref: EntityRef<Shape>, field: string, description: string, argument: string): void {
  builder.queryField(field, (t) =>
    t.field({
      type: ref,
      nullable: true,
      description,
      args: { kommoId: t.arg.id({ required: true, description: argument }) },
      // The id is the loader's key; TypeScript cannot see through Pothos' resolver type for a generic Shape.
      resolve: (_root, args) => kommoId(args.kommoId, 'kommoId') as never,
    }),
  );
}

/** A Federation entity keyed on `kommoId`, resolved through the per-request loader (batched, de-duplicated). */
export function kommoIdEntity<Shape>(ref: EntityRef<Shape>): void {
  builder.asEntity(ref, {
    key: builder.selection<{ kommoId: string }>('kommoId'),
    // A representation with an id that cannot exist is a missing entity, not a failed batch.
    resolveReference: (reference, context) => {
      const id = parseKommoId(reference.kommoId);
      return id === null ? null : ref.getDataloader(context).load(id);
    },
  });
}
