// Lint: type-aware rules everywhere, the Temporal workflow sandbox rules for workflows/, and the layer rules that
// keep imports pointing down (docs/ARCHITECTURE.md, "Code layout").
import tseslint from 'typescript-eslint';
import { builtinModules } from 'node:module';

const nodeBuiltins = builtinModules.flatMap((m) => [m, `node:${m}`]);

/** Import patterns that reach the given top-level folders from one or two levels below the repository root. */
const ourFolders = (...folders) => folders.flatMap((f) => [`../${f}`, `../${f}/*`, `../../${f}`, `../../${f}/*`]);

/** A lint block that keeps `files` from importing `folders`; `why` is the message. */
const layerRule = (files, folders, why) => ({
  files,
  rules: { 'no-restricted-imports': ['error', { patterns: [{ group: ourFolders(...folders), message: why }] }] },
});

/** A layer under activities/: never the layers that call it (nor `folders`), and no Temporal runtime. */
const belowActivities = (files, folders, why) => ({
  files,
  rules: {
    'no-restricted-imports': [
      'error',
      {
        patterns: [
          { group: ourFolders('activities', 'workflows', 'workers', 'cli', ...folders), message: why },
          {
            group: ['@temporalio/activity', '@temporalio/worker', '@temporalio/client', '@temporalio/workflow'],
            message:
              'Heartbeats, contexts and clients belong in activities/ and workers/; raise @temporalio/common failures.',
          },
        ],
      },
    ],
  },
});

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
              group: [
                'activities',
                'artifacts',
                'data',
                'ml',
                'storage',
                'workers',
                'config',
                'cli',
                'reports',
              ].flatMap((f) => [`../${f}`, `../${f}/*`]),
              allowTypeImports: true,
              message: 'Import activity types only (import type).',
            },
          ],
        },
      ],
    },
  },
  layerRule(
    ['ml/**/*.ts', 'ml/**/*.mts'],
    ['storage', 'data', 'artifacts', 'activities', 'workflows'],
    'ml/ is pure TensorFlow.js: it takes and returns tensors and bytes; data/ and artifacts/ do the reading and storing.',
  ),
  layerRule(
    ['storage/**/*.ts'],
    ['activities', 'workflows', 'ml'],
    'storage/ knows bytes and keys, not what they mean.',
  ),
  layerRule(
    ['activities/**/*.ts'],
    ['workflows'],
    'Activities are called by workflows, not the other way round; shared types live in common/.',
  ),
  // data/ (dataset sources: reading and parsing a format) sits under artifacts/ (what the store holds), both under
  // activities/. Neither knows Temporal beyond the failure values of @temporalio/common: no activity context.
  belowActivities(
    ['data/**/*.ts'],
    ['artifacts'],
    'data/ reads datasets; artifacts/ (above it) store what is made of them.',
  ),
  belowActivities(['artifacts/**/*.ts'], [], 'artifacts/ store and load what the activities make.'),
  layerRule(['config/**/*.ts'], ['ml'], 'config/ must load without tfjs; shared names live in common/.'),
  layerRule(
    ['reports/**/*.ts'],
    ['activities', 'workflows', 'workers', 'cli'],
    'reports/ render what contracts/ describe; activities call them, not the other way round.',
  ),
  {
    // contracts/: the types the layers exchange. Type-only and sandbox-safe; it sits above common/, config/,
    // storage/ and ml/ (whose types it may name) and below activities/, workflows/ and reports/, which it never names.
    files: ['contracts/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: nodeBuiltins.map((name) => ({ name, message: 'contracts/ must load in the workflow sandbox.' })),
          patterns: [
            {
              group: ourFolders('activities', 'workflows', 'reports', 'workers', 'cli', 'infra', 'bench', 'test'),
              message: 'contracts/ is below the layers that exchange its types: no arrow back up.',
            },
            {
              group: ourFolders('common', 'config', 'storage', 'ml'),
              allowTypeImports: true,
              message: 'contracts/ is type-only: import type from the layers below.',
            },
            {
              group: ['@tensorflow/*', '@temporalio/*', 'minio', 'pino', 'pino-*', 'zod', 'zod/*'],
              message: 'contracts/ is plain TypeScript.',
            },
          ],
        },
      ],
    },
  },
  {
    // The closed vocabularies are the floor of the house: every folder, common/ included, may use them.
    files: ['contracts/vocabulary.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        { patterns: [{ group: ['./*', '../*', '../../*'], message: 'contracts/vocabulary.ts imports nothing.' }] },
      ],
    },
  },
  {
    // common/ is imported from everywhere, the workflow sandbox included: plain TypeScript, nothing below it.
    files: ['common/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: nodeBuiltins.map((name) => ({ name, message: 'common/ must load in the workflow sandbox.' })),
          patterns: [
            {
              regex: '^\\.\\./(?!contracts/vocabulary$)',
              message: 'common/ imports only common/ (and the vocabularies in contracts/vocabulary.ts).',
            },
            {
              group: ['@tensorflow/*', '@temporalio/*', 'minio', 'pino', 'pino-*', 'zod', 'zod/*'],
              message: 'common/ is plain TypeScript.',
            },
          ],
        },
      ],
    },
  },
  { files: ['test/**/*.ts', 'bench/**/*.ts'], rules: { '@typescript-eslint/no-non-null-assertion': 'off' } },
);
