import type { CodegenConfig } from '@graphql-codegen/cli';

/**
 * Prints the client contract (schema/schema.graphql) and the federation subgraph SDL
 * (schema/subgraph.graphql) from the Pothos schema, and typed documents for the operations under
 * test/operations/. All are committed; `npm test` fails when any of them drifts.
 */
const config: CodegenConfig = {
  schema: './src/schema/index.ts',
  documents: ['test/operations/**/*.graphql'],
  ignoreNoDocuments: false,
  generates: {
    'schema/schema.graphql': {
      plugins: ['schema-ast'],
      config: { includeDirectives: false, commentDescriptions: false },
    },
    'schema/subgraph.graphql': {
      plugins: ['./src/schema/subgraph-sdl.ts'],
    },
    'test/generated/': {
      preset: 'client',
      presetConfig: { fragmentMasking: false },
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
