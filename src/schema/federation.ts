/**
 * Descriptions for what the federation plugin adds to the served schema (`_entities`, `_service` and
 * their types). @apollo/subgraph defines them without any, and Pothos' federation plugin takes no
 * options for them, so GraphiQL's docs explorer listed them first and unexplained. They are set on
 * the built schema: graphql-js keeps descriptions as plain properties, and nothing reads them before.
 */
import { type GraphQLSchema, isObjectType, isScalarType, isUnionType } from 'graphql';

const NOT_FOR_APPS = 'Used by a federation gateway (Hive Gateway, Apollo Router), not by client apps';

export function describeFederationInternals(schema: GraphQLSchema): GraphQLSchema {
  // The front page of GraphiQL's docs explorer.
  schema.description =
    'leadgraph: Kommo CRM leads with their pipelines, stages, people and tags. Start at Query: `leads` (paged), `lead`, `pipelines`, `users`. The `_entities` and `_service` fields serve federation gateways, not apps.';
  const query = schema.getQueryType()?.getFields();
  const entities = query?._entities;
  if (entities) {
    entities.description = `Federation: the objects of this subgraph for the entity representations a gateway sends (\`{ __typename, kommoId }\`), null where one does not exist. ${NOT_FOR_APPS}: query \`lead\`, \`pipeline\` or \`user\` instead.`;
    const representations = entities.args.find((arg) => arg.name === 'representations');
    if (representations) representations.description = 'Entity representations: objects with `__typename` and the key field `kommoId`.';
  }
  if (query?._service)
    query._service.description = `Federation: this subgraph's SDL, with its \`@key\` and \`@link\` directives. ${NOT_FOR_APPS}.`;
  const service = schema.getType('_Service');
  if (isObjectType(service)) {
    service.description = 'Federation: what a gateway needs to compose this subgraph.';
    const sdl = service.getFields().sdl;
    if (sdl) sdl.description = 'The federation SDL of this subgraph (the committed schema/subgraph.graphql).';
  }
  const any = schema.getType('_Any');
  if (isScalarType(any)) any.description = 'Federation: an entity representation, a JSON object with `__typename` and the key fields.';
  const entity = schema.getType('_Entity');
  if (isUnionType(entity)) entity.description = 'Federation: every type a gateway can resolve here by its key (`kommoId`).';
  return schema;
}
