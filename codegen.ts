import type { CodegenConfig } from '@graphql-codegen/cli';

/**
 * Prints the client contract (schema/schema.graphql) from the Pothos schema, and typed documents
 * for the operations under test/operations/. Both are committed; `npm test` fails when either drifts.
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
