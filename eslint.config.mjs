// Lint: type-aware rules everywhere, and the Temporal workflow sandbox rules for workflows/.
import tseslint from 'typescript-eslint';
import { builtinModules } from 'node:module';

const nodeBuiltins = builtinModules.flatMap((m) => [m, `node:${m}`]);

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', '.tools/**', '.data/**', '**/*.mjs', '**/*.js', 'bench/**/*.py'] },
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': [
        'error',
        {
          allowForKnownSafeCalls: [
            { from: 'package', package: 'node:test', name: ['test', 'it', 'describe', 'suite'] },
          ],
        },
      ],
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_' },
      ],
      '@typescript-eslint/require-await': 'off',
    },
  },
  {
    // Workflow code runs in Temporal's deterministic sandbox: no I/O, no tensors, no big schemas.
    files: ['workflows/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: nodeBuiltins.map((name) => ({ name, message: 'Node built-ins are not allowed in workflow code.' })),
          patterns: [
            { group: ['@tensorflow/*'], message: 'tfjs belongs in ml/, called from activities.' },
            { group: ['minio', 'pino', 'pino-*'], message: 'I/O belongs in activities.' },
            { group: ['zod', 'zod/*'], message: 'Validate at the boundary (client/first activity), not in workflows.' },
            {
              group: ['@temporalio/worker', '@temporalio/activity', '@temporalio/client'],
              message: 'Workflows import @temporalio/workflow only.',
            },
            {
              group: ['../activities/*', '../ml/*', '../storage/*', '../workers/*', '../config/*', '../cli/*'],
              allowTypeImports: true,
              message: 'Import activity types only (import type).',
            },
          ],
        },
      ],
    },
  },
  { files: ['test/**/*.ts', 'bench/**/*.ts'], rules: { '@typescript-eslint/no-non-null-assertion': 'off' } },
);
