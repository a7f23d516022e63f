/** Small value types hanging off Lead and User: no identity of their own in this graph. */
import { builder } from '../builder.js';
import type { CustomFieldEntry as Entry, CustomFieldValue as Field, IdName, Tag as TagShape } from '../sources/adapter.js';

export const Tag = builder.objectRef<TagShape>('Tag').implement({
  description: 'A Kommo lead tag.',
  fields: (t) => ({
    kommoId: t.exposeID('kommoId', { description: 'The Kommo tag id.' }),
    name: t.exposeString('name', { description: 'The tag text.' }),
    color: t.exposeString('color', { nullable: true, description: 'The tag colour as Kommo stores it (a hex code), if any.' }),
  }),
});

function idNameType(name: string, description: string, idDescription: string) {
  return builder.objectRef<IdName>(name).implement({
    description,
    fields: (t) => ({
      kommoId: t.exposeID('kommoId', { description: idDescription }),
      name: t.exposeString('name', { nullable: true, description: 'Its display name, when the upstream sends one.' }),
    }),
  });
}

export const LossReason = idNameType('LossReason', 'Why a lead was lost (status 143).', 'The Kommo loss reason id.');
export const LeadSource = idNameType(
  'LeadSource',
  'Where a lead came from (a Kommo source, e.g. a form or a chat channel).',
  'The Kommo source id.',
);
export const UserRole = idNameType('UserRole', 'A Kommo user role.', 'The Kommo role id.');
export const UserGroup = idNameType('UserGroup', 'A Kommo user group (team). Group 0 is the main group.', 'The Kommo group id.');

export const Contact = builder.objectRef<{ kommoId: string }>('Contact').implement({
  description: 'A Kommo contact linked to a lead. Only its id lives here; a contacts service owns the rest.',
  fields: (t) => ({
    kommoId: t.exposeID('kommoId', { description: 'The Kommo contact id.' }),
  }),
});

export const CustomFieldEntry = builder.objectRef<Entry>('CustomFieldEntry').implement({
  description: 'One value of a custom field (multi-select fields have several).',
  fields: (t) => ({
    value: t.exposeString('value', {
      nullable: true,
      description: 'The value as text (numbers, dates and flags included, as Kommo sends them).',
    }),
    enumId: t.exposeID('enumId', { nullable: true, description: 'For list fields: the id of the chosen option.' }),
    enumCode: t.exposeString('enumCode', {
      nullable: true,
      description: 'For list fields: the code of the chosen option (e.g. `WORK` for a phone type).',
    }),
  }),
});

export const CustomFieldValue = builder.objectRef<Field>('CustomFieldValue').implement({
  description: "A custom field's value(s) on a lead.",
  fields: (t) => ({
    fieldId: t.exposeID('fieldId', { description: 'The Kommo custom field id.' }),
    name: t.exposeString('name', { nullable: true, description: 'The field name shown in Kommo.' }),
    code: t.exposeString('code', { nullable: true, description: 'The field code, for system fields (e.g. `PHONE`).' }),
    type: t.exposeString('type', { nullable: true, description: 'The Kommo field type (e.g. `text`, `numeric`, `select`, `date`).' }),
    values: t.field({ type: [CustomFieldEntry], resolve: (field) => field.values, description: 'The values, in Kommo order.' }),
  }),
});

/** An entity stub (`resolvable: false`): a contacts subgraph owns Contact; this one only references it. */
builder.asEntity(Contact, {
  key: builder.keyDirective(builder.selection<{ kommoId: string }>('kommoId'), false),
  resolveReference: (reference) => reference,
});
