import { type FieldNode, type FragmentDefinitionNode, type GraphQLResolveInfo, Kind, type SelectionSetNode } from 'graphql';

/**
 * The names of the fields selected at `path` below the current field (through fragments, whatever
 * their type condition): e.g. ['edges', 'node'] gives what a connection's nodes select.
 */
export function selectedFieldNames(info: GraphQLResolveInfo, path: readonly string[]): Set<string> {
  const fragments: Record<string, FragmentDefinitionNode> = info.fragments;
  const collect = (sets: readonly SelectionSetNode[], seen: Set<string>): FieldNode[] => {
    const fields: FieldNode[] = [];
    const walk = (set: SelectionSetNode): void => {
      for (const selection of set.selections) {
        if (selection.kind === Kind.FIELD) fields.push(selection);
        else if (selection.kind === Kind.INLINE_FRAGMENT) walk(selection.selectionSet);
        else if (!seen.has(selection.name.value)) {
          seen.add(selection.name.value);
          const fragment = fragments[selection.name.value];
          if (fragment) walk(fragment.selectionSet);
        }
      }
    };
    for (const set of sets) walk(set);
    return fields;
  };
  let level = collect(
    info.fieldNodes.flatMap((node) => (node.selectionSet ? [node.selectionSet] : [])),
    new Set(),
  );
  for (const name of path) {
    level = collect(
      level.filter((field) => field.name.value === name).flatMap((field) => (field.selectionSet ? [field.selectionSet] : [])),
      new Set(),
    );
  }
  return new Set(level.map((field) => field.name.value));
}
