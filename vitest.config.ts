import { createRequire } from 'node:module';
import { defineConfig } from 'vitest/config';

const require = createRequire(import.meta.url);

export default defineConfig({
  resolve: {
    // graphql 16 has no exports map: Node (and so Pothos and Yoga) loads index.js, while Vite would
    // pick index.mjs for our code. Two copies break `instanceof` checks; resolve it as Node does.
    alias: [{ find: /^graphql$/, replacement: require.resolve('graphql') }],
  },
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 30_000,
    pool: 'forks',
    // The soak test measures memory after explicit collections.
    execArgv: ['--expose-gc'],
  },
});
