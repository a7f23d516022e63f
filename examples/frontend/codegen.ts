import type { CodegenConfig } from '@graphql-codegen/cli';

/**
 * Typed operations for a frontend app, as a team would set them up in its own repository: the schema is
 * the gateway's client contract (schema/schema.graphql, or the gateway's URL), the documents are the
 * app's .graphql files, and the client preset writes typed documents plus a trusted-documents manifest
 * (src/gql/persisted-documents.json) to load with LEADGRAPH_PERSISTED_DOCUMENTS.
 * Run from the repository root: `npm run codegen`.
 */
const config: CodegenConfig = {
  schema: 'schema/schema.graphql',
  documents: ['examples/frontend/src/operations/*.graphql'],
  ignoreNoDocuments: false,
  generates: {
    'examples/frontend/src/gql/': {
      preset: 'client',
      presetConfig: {
        // Components see only the fields their own fragment selects (`useFragment`).
        fragmentMasking: { unmaskFunctionName: 'useFragment' },
        // Every document gets its sha256 (`__meta__.hash`), and persisted-documents.json maps it to the text.
        persistedDocuments: { mode: 'embedHashInDocument', hashAlgorithm: 'sha256' },
      },
      config: {
        useTypeImports: true,
        emitLegacyCommonJSImports: false,
        scalars: { DateTime: 'string', ID: 'string' },
        enumsAsTypes: true,
      },
    },
  },
};

export default config;
