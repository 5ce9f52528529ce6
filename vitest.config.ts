import { defineConfig } from 'vitest/config';

/**
 * Two projects: `unit` (op, property, fuzz and end-to-end tests) and `parity` (tests that read the reference
 * fixtures under SEMEDIT_FIXTURES; files named `*.parity.test.ts`). `pnpm test:parity` runs only the latter.
 */
const shared = {
  testTimeout: 300_000,
  hookTimeout: 300_000,
  pool: 'forks' as const,
  // Test files run in parallel forks (one per core); the native engine's OpenMP pool in each would otherwise take
  // every core too, and oversubscribed OpenMP barriers crawl. One compute thread per fork (SEMEDIT_THREADS, which
  // tests that check thread counts set or clear themselves, still wins).
  env: { OMP_NUM_THREADS: '1' },
};
const roots = ['packages/*/src/**', 'bench/**', 'examples/**', 'scripts/**'];

export default defineConfig({
  resolve: { conditions: ['@repo/source'] },
  ssr: { resolve: { conditions: ['@repo/source'] } },
  test: {
    projects: [
      {
        extends: true,
        test: {
          ...shared,
          name: 'unit',
          include: roots.map((r) => `${r}/*.test.ts`),
          exclude: ['**/node_modules/**', '**/*.parity.test.ts'],
        },
      },
      {
        extends: true,
        test: { ...shared, name: 'parity', include: roots.map((r) => `${r}/*.parity.test.ts`), exclude: ['**/node_modules/**'] },
      },
    ],
  },
});
