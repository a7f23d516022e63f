/**
 * A graphql-codegen plugin that prints the federation SDL (with @link, @key, @shareable) from the
 * built subgraph schema. Introspection would drop those directives; printSubgraphSchema keeps them.
 */
import { printSubgraphSchema } from '@apollo/subgraph';
import { subgraphSchema } from './index.js';

export const plugin = (): string => `${printSubgraphSchema(subgraphSchema).trim()}\n`;
