import neostandard from 'neostandard'
import tseslint from 'typescript-eslint'

// Modules of the pure core may not reach I/O, the process or a runtime client:
// breaking that is a lint error, not a convention.
const impure = [
  { name: 'fastify', message: 'the core is pure: no HTTP framework' },
  { name: 'pino', message: 'the core is pure: it returns data, the adapters log' },
  { name: 'node:fs', message: 'the core is pure: no file I/O' },
  { name: 'node:fs/promises', message: 'the core is pure: no file I/O' },
  { name: 'node:process', message: 'the core is pure: only the composition roots touch process' },
  { name: 'node:child_process', message: 'the core is pure: no processes' },
  { name: '@kubernetes/client-node', message: 'the core is pure: type imports only', allowTypeImports: true }
]

export default [
  ...neostandard({ ts: true, ignores: ['dist/**', 'dist-e2e/**', 'dist-bench/**', 'tap-snapshots/**', '.tap/**', 'certs/**', 'node_modules/**'] }),
  {
    files: ['**/*.ts'],
    languageOptions: {
      parser: tseslint.parser,
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname }
    },
    plugins: { '@typescript-eslint': tseslint.plugin },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/switch-exhaustiveness-check': 'error',
      '@typescript-eslint/consistent-type-imports': 'error'
    }
  },
  {
    files: ['test/**/*.ts', 'bench/**/*.ts'],
    rules: { '@typescript-eslint/no-floating-promises': 'off' }
  },
  {
    files: ['src/core/**/*.ts', 'src/admission/**/*.ts', 'src/capture/**/*.ts', 'src/yaml/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': ['error', { paths: impure }],
      'no-restricted-globals': ['error', { name: 'process', message: 'the core is pure: only the composition roots touch process' }]
    }
  }
]
