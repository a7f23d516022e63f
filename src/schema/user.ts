import { builder } from '../builder.js';
import { entityByKommoIdField, kommoIdEntity } from './entity.js';
import { User } from './refs.js';
import { UserGroup, UserRole } from './values.js';

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
}));

entityByKommoIdField(User, 'user', 'One user by Kommo id; null when it does not exist.', 'The Kommo user id.');
kommoIdEntity(User);
