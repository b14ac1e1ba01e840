import js from '@eslint/js';
import tseslint from 'typescript-eslint';

// The dependency rule of design.md: apps → domain → lib; apps and domain may
// use queue. domain/ and lib/ never import express, bullmq or apps/; lib/
// imports nothing of ours but lib/ (and the generated client).
const layering = (forbidden) => ({
  'no-restricted-imports': ['error', { patterns: forbidden }],
});

export default tseslint.config(
  { ignores: ['node_modules/**', 'dist/**', 'apps/admin/dist/**', 'generated/**', 'coverage/**', 'bench/results/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { parserOptions: { projectService: false } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      '@typescript-eslint/no-explicit-any': 'error',
      'no-console': 'error',
      eqeqeq: ['error', 'smart'],
    },
  },
  {
    files: ['domain/**/*.ts'],
    rules: layering([
      { group: ['express', 'express/*', 'bullmq', 'bullmq/*'], message: 'domain/ never imports express or bullmq (design.md dependency rule).' },
      { group: ['**/apps/**'], message: 'domain/ never imports apps/.' },
    ]),
  },
  {
    files: ['lib/**/*.ts'],
    rules: layering([
      { group: ['express', 'express/*', 'bullmq', 'bullmq/*'], message: 'lib/ never imports express or bullmq (design.md dependency rule).' },
      { group: ['**/apps/**', '**/domain/**', '**/queue/**'], message: 'lib/ is plumbing: it imports only lib/.' },
    ]),
  },
  {
    files: ['queue/**/*.ts'],
    rules: layering([{ group: ['**/apps/**', '**/domain/**'], message: 'queue/ never imports apps/ or domain/.' }]),
  },
  {
    files: ['scripts/**/*.{ts,mjs}', 'apps/*/src/main.ts', 'apps/*/src/server.ts'],
    rules: { 'no-console': 'off' },
  },
  {
    files: ['**/*.mjs'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly' } },
  },
  {
    // The embedded admin runs in the browser: it talks to the api over HTTP only.
    files: ['apps/admin/**/*.{ts,tsx,mts}'],
    rules: layering([{ group: ['**/domain/**', '**/lib/**', '**/queue/**', '**/apps/api/**', '**/apps/worker/**'], message: 'apps/admin is browser code: it uses the api over HTTP, never server modules.' }]),
  },
  {
    files: ['**/*.test.ts', 'test/**/*.ts'],
    rules: { '@typescript-eslint/no-non-null-assertion': 'off' },
  },
);
