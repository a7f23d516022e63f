import { builder } from '../builder.js';
import type { User as UserShape } from '../sources/adapter.js';
import { kommoId, parseKommoId } from './lead-filter.js';
import { UserGroup, UserRole } from './values.js';

export const User = builder.loadableNodeRef<UserShape, string>('User', {
  id: { resolve: (user) => user.kommoId },
  toKey: (user) => user.kommoId,
  sort: true,
  // The users table is fetched whole once per request: any number of ids is one upstream call
  // (the adapter falls back to one call per user where the token may not list them).
  load: (ids, context) => context.adapter.getUsers(ids, context.signal),
});

User.implement({
  description: 'A Kommo user (a member of the sales team).',
  fields: (t) => ({
    kommoId: t.exposeID('kommoId', { description: 'The Kommo user id.' }),
    name: t.exposeString('name', { description: 'The display name.' }),
    email: t.exposeString('email', { nullable: true, description: 'The login e-mail.' }),
    isAdmin: t.exposeBoolean('isAdmin', { nullable: true, description: 'Whether the user is an account administrator.' }),
    isActive: t.exposeBoolean('isActive', { nullable: true, description: 'Whether the user may still log in.' }),
    role: t.field({ type: UserRole, nullable: true, description: 'The user role, if any.', resolve: (user) => user.role }),
    group: t.field({ type: UserGroup, nullable: true, description: 'The user group (team).', resolve: (user) => user.group }),
  }),
});

builder.queryFields((t) => ({
  users: t.field({
    type: [User],
    description: 'All users of the account. One upstream call.',
    resolve: async (_root, _args, context) => (await context.userIndex()).users,
  }),
  user: t.field({
    type: User,
    nullable: true,
    description: 'One user by Kommo id; null when it does not exist.',
    args: { kommoId: t.arg.id({ required: true, description: 'The Kommo user id.' }) },
    resolve: (_root, args) => kommoId(args.kommoId, 'kommoId'),
  }),
}));

builder.asEntity(User, {
  key: builder.selection<{ kommoId: string }>('kommoId'),
  resolveReference: (reference, context) => {
    // A representation with an id that cannot exist is a missing entity, not a failed batch.
    const id = parseKommoId(reference.kommoId);
    return id === null ? null : User.getDataloader(context).load(id);
  },
});
