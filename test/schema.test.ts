import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { printSubgraphSchema } from '@apollo/subgraph';
import {
  buildSchema,
  type GraphQLNamedType,
  isEnumType,
  isInputObjectType,
  isInterfaceType,
  isObjectType,
  lexicographicSortSchema,
  printSchema,
} from 'graphql';
import { describe, expect, it } from 'vitest';
import { schema, subgraphSchema } from '../src/schema/index.js';

describe('the committed schema', () => {
  it('schema/schema.graphql is what the code prints (run `npm run codegen` after a schema change)', () => {
    const committed = buildSchema(readFileSync('schema/schema.graphql', 'utf8'));
    expect(printSchema(lexicographicSortSchema(schema))).toBe(printSchema(lexicographicSortSchema(committed)));
  });

  it('schema/subgraph.graphql is the federation SDL the code prints (with @link, @key, @shareable)', () => {
    const committed = readFileSync('schema/subgraph.graphql', 'utf8');
    expect(committed).toBe(`${printSubgraphSchema(subgraphSchema).trim()}\n`);
    expect(committed).toContain('@key(fields: "kommoId", resolvable: false)');
    expect(committed).toMatch(/type PageInfo\s+@shareable/);
  });

  it('codegen finds no stale generated file (schema and typed test documents)', () => {
    const run = spawnSync(
      process.execPath,
      ['--import', 'tsx', 'node_modules/@graphql-codegen/cli/cjs/bin.js', '--config', 'codegen.ts', '--check'],
      {
        encoding: 'utf8',
        timeout: 60_000,
      },
    );
    expect(run.stdout + run.stderr).not.toMatch(/stale/);
    expect(run.status).toBe(0);
  });

  it("codegen finds the frontend example's typed operations and trusted-documents manifest fresh", () => {
    const run = spawnSync(
      process.execPath,
      ['node_modules/@graphql-codegen/cli/cjs/bin.js', '--config', 'examples/frontend/codegen.ts', '--check'],
      {
        encoding: 'utf8',
        timeout: 60_000,
      },
    );
    expect(run.stdout + run.stderr).not.toMatch(/stale/);
    expect(run.status).toBe(0);
  });

  it('documents every type, field, argument and enum value for GraphiQL, the federation internals included', () => {
    const undocumented: string[] = [];
    // The served schema (the client contract plus `_entities`, `_service` and their types).
    for (const type of Object.values(subgraphSchema.getTypeMap()) as GraphQLNamedType[]) {
      if (type.name.startsWith('__') || ['String', 'Int', 'Float', 'Boolean', 'ID'].includes(type.name)) continue;
      if (!type.description) undocumented.push(type.name);
      if (isObjectType(type) || isInterfaceType(type) || isInputObjectType(type)) {
        for (const field of Object.values(type.getFields())) {
          if (!field.description) undocumented.push(`${type.name}.${field.name}`);
          for (const arg of 'args' in field ? field.args : [])
            if (!arg.description) undocumented.push(`${type.name}.${field.name}(${arg.name})`);
        }
      }
      if (isEnumType(type)) for (const value of type.getValues()) if (!value.description) undocumented.push(`${type.name}.${value.name}`);
    }
    expect(undocumented).toEqual([]);
  });

  it('keeps the contract names and types of the issue', () => {
    const contract: Record<string, string> = {
      'Query.node': 'Node',
      'Query.nodes': '[Node]!',
      'Query.lead': 'Lead',
      'Query.leads': 'LeadConnection!',
      'Query.pipelines': '[Pipeline!]!',
      'Query.pipeline': 'Pipeline',
      'Query.users': '[User!]!',
      'Query.user': 'User',
      'LeadConnection.edges': '[LeadEdge!]!',
      'LeadConnection.pageInfo': 'PageInfo!',
      'LeadConnection.totalCount': 'Int',
      'LeadEdge.cursor': 'String!',
      'LeadEdge.node': 'Lead!',
      'PageInfo.hasNextPage': 'Boolean!',
      'PageInfo.hasPreviousPage': 'Boolean!',
      'PageInfo.startCursor': 'String',
      'PageInfo.endCursor': 'String',
      'Lead.id': 'ID!',
      'Lead.kommoId': 'ID!',
      'Lead.name': 'String!',
      'Lead.price': 'Float!',
      'Lead.pipeline': 'Pipeline',
      'Lead.status': 'Status',
      'Lead.responsibleUser': 'User',
      'Lead.createdBy': 'User',
      'Lead.updatedBy': 'User',
      'Lead.groupId': 'ID',
      'Lead.lossReason': 'LossReason',
      'Lead.tags': '[Tag!]!',
      'Lead.contacts': '[Contact!]!',
      'Lead.customFields': '[CustomFieldValue!]!',
      'Lead.score': 'Int',
      'Lead.laborCostSeconds': 'Int',
      'Lead.source': 'LeadSource',
      'Lead.createdAt': 'DateTime!',
      'Lead.updatedAt': 'DateTime!',
      'Lead.closedAt': 'DateTime',
      'Lead.closestTaskAt': 'DateTime',
      'Lead.isDeleted': 'Boolean!',
      'Pipeline.sort': 'Int',
      'Pipeline.isMain': 'Boolean!',
      'Pipeline.isArchived': 'Boolean!',
      'Pipeline.statuses': '[Status!]!',
      'Pipeline.leads': 'LeadConnection!',
      'Status.color': 'String',
      'Status.kind': 'StatusKind!',
      'Status.isEditable': 'Boolean',
      'Status.pipeline': 'Pipeline!',
      'Status.leads': 'LeadConnection!',
      'User.email': 'String',
      'User.isAdmin': 'Boolean',
      'User.isActive': 'Boolean',
      'User.role': 'UserRole',
      'User.group': 'UserGroup',
      'User.leads': 'LeadConnection!',
      'UserRole.kommoId': 'ID!',
      'UserGroup.name': 'String',
      'Tag.kommoId': 'ID!',
      'Tag.name': 'String!',
      'Tag.color': 'String',
      'LossReason.name': 'String',
      'LeadSource.kommoId': 'ID!',
      'Contact.kommoId': 'ID!',
      'CustomFieldValue.fieldId': 'ID!',
      'CustomFieldValue.values': '[CustomFieldEntry!]!',
      'CustomFieldEntry.enumId': 'ID',
      'CustomFieldEntry.enumCode': 'String',
      'LeadFilter.statusId': 'ID',
      'LeadFilter.tagName': 'String',
      'LeadFilter.createdAt': 'DateTimeRange',
      'LeadFilter.updatedAt': 'DateTimeRange',
      'LeadFilter.includeDeleted': 'Boolean',
      'DateTimeRange.from': 'DateTime',
      'DateTimeRange.to': 'DateTime',
    };
    const actual = Object.fromEntries(
      Object.keys(contract).map((path) => {
        const [typeName, fieldName] = path.split('.') as [string, string];
        const type = schema.getType(typeName);
        const field =
          type && (isObjectType(type) || isInputObjectType(type) || isInterfaceType(type)) ? type.getFields()[fieldName] : undefined;
        return [path, field ? String(field.type) : 'missing'];
      }),
    );
    expect(actual).toEqual(contract);
    const leads = schema.getQueryType()?.getFields().leads;
    const args = leads?.args.map((arg) => `${arg.name}: ${String(arg.type)}`).sort();
    expect(args).toEqual(['after: String', 'before: String', 'filter: LeadFilter', 'first: Int', 'last: Int', 'orderBy: LeadOrder']);
    const kinds = schema.getType('StatusKind');
    expect(isEnumType(kinds) ? kinds.getValues().map((value) => value.name) : []).toEqual(['INCOMING', 'IN_PROGRESS', 'WON', 'LOST']);
    const filter = schema.getType('LeadFilter');
    expect(isInputObjectType(filter) ? filter.getFields().includeDeleted?.defaultValue : undefined).toBe(false);
  });
});
