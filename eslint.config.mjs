// @ts-check
/**
 * ESLint for the library (src/), its tests (test/), the sample apps (sample-app/) and the
 * benchmark (bench/). Set up as `nest new` sets up a project: @eslint/js and
 * typescript-eslint's type-checked recommendations, `any` tolerated with a warning, and
 * Prettier owning the layout (eslint-config-prettier last, `npm run format` to apply it).
 *
 * The layers of docs/architecture.md are enforced here: `import-x/no-restricted-paths`
 * zones for our own folders, `@typescript-eslint/no-restricted-imports` (plus a
 * `no-restricted-syntax` net for `require()` / `import()`) for package names.
 */
import eslint from '@eslint/js';
import prettier from 'eslint-config-prettier';
import { createNodeResolver, importX } from 'eslint-plugin-import-x';
import { defineConfig, globalIgnores } from 'eslint/config';
import tseslint from 'typescript-eslint';

const TS = ['**/*.ts', '**/*.mts', '**/*.cts'];
const JS = ['**/*.js', '**/*.cjs', '**/*.mjs'];

/** Node's globals, read from the running Node, plus the CommonJS module wrapper's. */
const nodeGlobals = Object.fromEntries(
  [
    ...Object.getOwnPropertyNames(globalThis).filter(name => /^[A-Za-z_$][\w$]*$/.test(name)),
    'require',
    'module',
    'exports',
    '__dirname',
    '__filename',
  ].map(name => [name, 'readonly']),
);

/**
 * Our folders under src/ and what each may not import (docs/architecture.md, "may import").
 * `except` paths are relative to `from`.
 */
const layerZones = [
  {
    target: 'src/protocol',
    from: 'src',
    except: ['./protocol'],
    message: 'src/protocol imports nothing of ours outside src/protocol (docs/architecture.md).',
  },
  {
    target: 'src/iroh',
    from: 'src',
    except: ['./iroh'],
    message: 'src/iroh (the binding) imports nothing of ours outside src/iroh (docs/architecture.md).',
  },
  {
    target: 'src/transport',
    from: 'src',
    except: ['./transport', './protocol', './iroh'],
    message: 'src/transport imports only src/protocol and src/iroh (docs/architecture.md).',
  },
  {
    target: 'src/observability',
    from: 'src',
    except: ['./observability', './protocol'],
    message: 'src/observability imports only src/protocol (docs/architecture.md).',
  },
  {
    target: ['src/interfaces', 'src/context', 'src/constants.ts'],
    from: ['src/server', 'src/client', 'src/grpc', 'src/transport'],
    message: 'interfaces/, context/ and constants.ts sit below server, client, grpc and transport (docs/architecture.md).',
  },
  {
    target: 'src/server',
    from: ['src/client', 'src/grpc'],
    message: 'src/server never imports src/client or src/grpc: they meet only in protocol/transport (docs/architecture.md).',
  },
  {
    target: 'src/client',
    from: ['src/server', 'src/grpc'],
    message: 'src/client never imports src/server or src/grpc: they meet only in protocol/transport (docs/architecture.md).',
  },
  {
    target: 'src/grpc/client',
    from: ['src/server', 'src/grpc/server'],
    message: 'src/grpc/client imports nothing from the server side (docs/architecture.md).',
  },
  {
    target: 'src/grpc/server',
    from: ['src/client', 'src/grpc/client'],
    message: 'src/grpc/server imports nothing from the client side (docs/architecture.md).',
  },
  {
    target: 'src/index.ts',
    from: 'src/grpc',
    message: 'The main entry exports nothing from gRPC: that is the nestjs-iroh/grpc entry (src/grpc/index.ts).',
  },
  {
    target: 'src/cli',
    from: 'src/grpc',
    message: 'The CLI may import anything but src/grpc (docs/architecture.md).',
  },
];

/** Packages a folder must not import, by import statement, `import x = require()`, `require()` or `import()`. */
function bannedPackages(groups) {
  const sourcePattern = `/^(${groups.map(group => group.pattern).join('|')})([/]|$)/`;
  const message = `This folder does not load ${groups.map(group => group.group[0]).join(', ')} (docs/architecture.md).`;
  return {
    '@typescript-eslint/no-restricted-imports': [
      'error',
      {
        patterns: groups.map(({ group, message }) => ({ group, message })),
      },
    ],
    'no-restricted-syntax': [
      'error',
      {
        selector: `CallExpression[callee.name='require'][arguments.0.value=${sourcePattern}]`,
        message,
      },
      { selector: `ImportExpression[source.value=${sourcePattern}]`, message },
    ],
  };
}
const NO_GRPC = {
  group: ['@grpc/*'],
  pattern: '@grpc',
  message: "Only src/grpc imports @grpc/* (the main entry's typings need no gRPC package).",
};
const NO_NEST = { group: ['@nestjs/*'], pattern: '@nestjs', message: 'This layer knows no Nest.' };
const NO_BINDING = {
  group: ['@number0/iroh', '@number0/iroh/*'],
  pattern: '@number0[/]iroh',
  message: 'This layer knows no binding (src/iroh holds it).',
};

export default defineConfig(
  globalIgnores([
    '**/node_modules/',
    '**/dist/',
    'coverage/',
    '.bench/',
    '.scratch/',
    'bench/results/',
    'test/fuzz/.build/',
    'test/fuzz/findings/',
    // Type-checked by test/e2e/package.spec.ts against the packed package, not against src.
    'test/fixtures/consumer/',
  ]),

  // Every file: ESLint's recommendations and the import plug-in's resolver.
  {
    extends: [eslint.configs.recommended],
    plugins: { 'import-x': importX },
    settings: {
      'import-x/resolver-next': [createNodeResolver({ extensions: ['.ts', '.d.ts', '.js', '.mjs', '.cjs', '.json', '.node'] })],
    },
  },

  // TypeScript: typescript-eslint's recommendations with type information, as `nest new` has them.
  // The sample apps import the package by name, mapped to dist/ (sample-app/tsconfig.json):
  // lint after `npm run build`, as .ci/run does, or their imports have no types.
  {
    files: TS,
    extends: [tseslint.configs.recommendedTypeChecked],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      // `nest new` allows `any` (Nest's typings hand it out) and warns where it is passed on;
      // here `any` and every place it flows into are warnings, never errors.
      '@typescript-eslint/no-explicit-any': 'warn',
      '@typescript-eslint/no-unsafe-argument': 'warn',
      '@typescript-eslint/no-unsafe-assignment': 'warn',
      '@typescript-eslint/no-unsafe-call': 'warn',
      '@typescript-eslint/no-unsafe-member-access': 'warn',
      '@typescript-eslint/no-unsafe-return': 'warn',
      '@typescript-eslint/no-floating-promises': 'warn',
      // `async` without `await` is how a function turns its throws into rejections.
      '@typescript-eslint/require-await': 'off',
      // `import x = require()` is TypeScript's import of a CommonJS module (the binding).
      '@typescript-eslint/no-require-imports': ['error', { allowAsImport: true }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrorsIgnorePattern: '^_' }],
    },
  },
  // Tests reach into internals and build hostile input on purpose (as in Nest's own repository).
  {
    files: ['test/**/*.ts'],
    rules: {
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      '@typescript-eslint/only-throw-error': 'off',
      '@typescript-eslint/prefer-promise-reject-errors': 'off',
      '@typescript-eslint/unbound-method': 'off',
    },
  },

  // JavaScript (bench/, test/fuzz, test/support, configs): plain Node, CommonJS unless .mjs.
  {
    files: JS,
    languageOptions: { sourceType: 'commonjs', globals: nodeGlobals },
    rules: {
      'no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrorsIgnorePattern: '^_' }],
    },
  },
  { files: ['**/*.mjs'], languageOptions: { sourceType: 'module' } },

  // The layers (docs/architecture.md).
  {
    files: ['src/**/*.ts'],
    rules: { 'import-x/no-restricted-paths': ['error', { basePath: import.meta.dirname, zones: layerZones }] },
  },
  { files: ['src/**/*.ts'], ignores: ['src/grpc/**'], rules: bannedPackages([NO_GRPC]) },
  { files: ['src/protocol/**/*.ts'], rules: bannedPackages([NO_GRPC, NO_NEST, NO_BINDING]) },
  { files: ['src/iroh/**/*.ts', 'src/transport/**/*.ts'], rules: bannedPackages([NO_GRPC, NO_NEST]) },
  { files: ['src/observability/**/*.ts'], rules: bannedPackages([NO_GRPC, NO_NEST, NO_BINDING]) },

  // Prettier owns the layout: last, so that it turns off every rule about it.
  prettier,
);
