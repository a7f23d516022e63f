/* eslint-disable */
import * as types from './graphql.js';
import type { TypedDocumentNode as DocumentNode } from '@graphql-typed-document-node/core';

/**
 * Map of all GraphQL operations in the project.
 *
 * This map has several performance disadvantages:
 * 1. It is not tree-shakeable, so it will include all operations in the project.
 * 2. It is not minifiable, so the string of a GraphQL query will be multiple times inside the bundle.
 * 3. It does not support dead code elimination, so it will add unused operations.
 *
 * Therefore it is highly recommended to use the babel or swc plugin for production.
 * Learn more about it here: https://the-guild.dev/graphql/codegen/plugins/presets/preset-client#reducing-bundle-size
 */
type Documents = {
    "query Dashboard($first: Int = 25) {\n  leads(first: $first) {\n    totalCountUpperBound\n    pageInfo {\n      hasNextPage\n      endCursor\n    }\n    edges {\n      node {\n        ...LeadRow\n      }\n    }\n  }\n}": typeof types.DashboardDocument,
    "query LeadDetail($kommoId: ID!) {\n  lead(kommoId: $kommoId) {\n    kommoId\n    name\n    price\n    createdAt\n    updatedAt\n    closedAt\n    isDeleted\n    pipeline {\n      name\n    }\n    status {\n      name\n      kind\n    }\n    responsibleUser {\n      name\n      email\n    }\n    createdBy {\n      name\n    }\n    tags {\n      name\n    }\n    lossReason {\n      name\n    }\n    source {\n      name\n    }\n    contacts {\n      kommoId\n    }\n    customFields {\n      name\n      values {\n        value\n      }\n    }\n  }\n}": typeof types.LeadDetailDocument,
    "fragment LeadRow on Lead {\n  kommoId\n  name\n  price\n  createdAt\n  pipeline {\n    name\n  }\n  status {\n    name\n    kind\n    color\n  }\n  responsibleUser {\n    name\n  }\n  tags {\n    name\n    color\n  }\n}": typeof types.LeadRowFragmentDoc,
    "query NextPage($after: String!, $first: Int = 25) {\n  leads(first: $first, after: $after) {\n    pageInfo {\n      hasNextPage\n      endCursor\n    }\n    edges {\n      node {\n        ...LeadRow\n      }\n    }\n  }\n}": typeof types.NextPageDocument,
};
const documents: Documents = {
    "query Dashboard($first: Int = 25) {\n  leads(first: $first) {\n    totalCountUpperBound\n    pageInfo {\n      hasNextPage\n      endCursor\n    }\n    edges {\n      node {\n        ...LeadRow\n      }\n    }\n  }\n}": types.DashboardDocument,
    "query LeadDetail($kommoId: ID!) {\n  lead(kommoId: $kommoId) {\n    kommoId\n    name\n    price\n    createdAt\n    updatedAt\n    closedAt\n    isDeleted\n    pipeline {\n      name\n    }\n    status {\n      name\n      kind\n    }\n    responsibleUser {\n      name\n      email\n    }\n    createdBy {\n      name\n    }\n    tags {\n      name\n    }\n    lossReason {\n      name\n    }\n    source {\n      name\n    }\n    contacts {\n      kommoId\n    }\n    customFields {\n      name\n      values {\n        value\n      }\n    }\n  }\n}": types.LeadDetailDocument,
    "fragment LeadRow on Lead {\n  kommoId\n  name\n  price\n  createdAt\n  pipeline {\n    name\n  }\n  status {\n    name\n    kind\n    color\n  }\n  responsibleUser {\n    name\n  }\n  tags {\n    name\n    color\n  }\n}": types.LeadRowFragmentDoc,
    "query NextPage($after: String!, $first: Int = 25) {\n  leads(first: $first, after: $after) {\n    pageInfo {\n      hasNextPage\n      endCursor\n    }\n    edges {\n      node {\n        ...LeadRow\n      }\n    }\n  }\n}": types.NextPageDocument,
};

/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 *
 *
 * @example
 * ```ts
 * const query = graphql(`query GetUser($id: ID!) { user(id: $id) { name } }`);
 * ```
 *
 * The query argument is unknown!
 * Please regenerate the types.
 */
export function graphql(source: string): unknown;

/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "query Dashboard($first: Int = 25) {\n  leads(first: $first) {\n    totalCountUpperBound\n    pageInfo {\n      hasNextPage\n      endCursor\n    }\n    edges {\n      node {\n        ...LeadRow\n      }\n    }\n  }\n}"): (typeof documents)["query Dashboard($first: Int = 25) {\n  leads(first: $first) {\n    totalCountUpperBound\n    pageInfo {\n      hasNextPage\n      endCursor\n    }\n    edges {\n      node {\n        ...LeadRow\n      }\n    }\n  }\n}"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "query LeadDetail($kommoId: ID!) {\n  lead(kommoId: $kommoId) {\n    kommoId\n    name\n    price\n    createdAt\n    updatedAt\n    closedAt\n    isDeleted\n    pipeline {\n      name\n    }\n    status {\n      name\n      kind\n    }\n    responsibleUser {\n      name\n      email\n    }\n    createdBy {\n      name\n    }\n    tags {\n      name\n    }\n    lossReason {\n      name\n    }\n    source {\n      name\n    }\n    contacts {\n      kommoId\n    }\n    customFields {\n      name\n      values {\n        value\n      }\n    }\n  }\n}"): (typeof documents)["query LeadDetail($kommoId: ID!) {\n  lead(kommoId: $kommoId) {\n    kommoId\n    name\n    price\n    createdAt\n    updatedAt\n    closedAt\n    isDeleted\n    pipeline {\n      name\n    }\n    status {\n      name\n      kind\n    }\n    responsibleUser {\n      name\n      email\n    }\n    createdBy {\n      name\n    }\n    tags {\n      name\n    }\n    lossReason {\n      name\n    }\n    source {\n      name\n    }\n    contacts {\n      kommoId\n    }\n    customFields {\n      name\n      values {\n        value\n      }\n    }\n  }\n}"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "fragment LeadRow on Lead {\n  kommoId\n  name\n  price\n  createdAt\n  pipeline {\n    name\n  }\n  status {\n    name\n    kind\n    color\n  }\n  responsibleUser {\n    name\n  }\n  tags {\n    name\n    color\n  }\n}"): (typeof documents)["fragment LeadRow on Lead {\n  kommoId\n  name\n  price\n  createdAt\n  pipeline {\n    name\n  }\n  status {\n    name\n    kind\n    color\n  }\n  responsibleUser {\n    name\n  }\n  tags {\n    name\n    color\n  }\n}"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "query NextPage($after: String!, $first: Int = 25) {\n  leads(first: $first, after: $after) {\n    pageInfo {\n      hasNextPage\n      endCursor\n    }\n    edges {\n      node {\n        ...LeadRow\n      }\n    }\n  }\n}"): (typeof documents)["query NextPage($after: String!, $first: Int = 25) {\n  leads(first: $first, after: $after) {\n    pageInfo {\n      hasNextPage\n      endCursor\n    }\n    edges {\n      node {\n        ...LeadRow\n      }\n    }\n  }\n}"];

export function graphql(source: string) {
  return (documents as any)[source] ?? {};
}

export type DocumentType<TDocumentNode extends DocumentNode<any, any>> = TDocumentNode extends DocumentNode<  infer TType,  any>  ? TType  : never;