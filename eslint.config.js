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

// Which folder of src/ may import which (docs/architecture.md): the pure rooms at the bottom, the
// adapters above them, the commands on top. A folder may always import its own modules; src/cli.ts and
// src/serve.ts are the composition roots, and only the commands import them.
const mayImport = {
  shared: [],
  yaml: ['shared'],
  capture: ['shared'],
  core: ['capture', 'shared'],
  admission: ['core', 'shared'],
  workloads: ['core', 'shared', 'yaml'],
  reload: ['core', 'shared'],
  audit: ['core', 'shared'],
  kube: ['audit', 'core', 'shared'],
  tls: ['kube', 'reload', 'shared'],
  http: ['admission', 'core', 'tls', 'shared'],
  install: ['kube', 'shared'],
  cli: ['admission', 'audit', 'capture', 'core', 'http', 'install', 'kube', 'reload', 'shared', 'tls', 'workloads', 'yaml', '(roots)']
}
const pure = new Set(['shared', 'yaml', 'capture', 'core', 'admission', 'workloads', 'audit'])

function folderRules (folder, extraAllowed = []) {
  const allowed = new Set([...mayImport[folder], ...extraAllowed])
  const forbidden = Object.keys(mayImport).filter(other => other !== folder && !allowed.has(other))
  const patterns = forbidden.map(other => ({
    group: [`../${other}/*`],
    message: `src/${folder} may import only ${[...allowed].join(', ') || 'nothing'} of src/ (eslint.config.js, docs/architecture.md)`
  }))
  // src/version.ts (the package's version, read once) is not a composition root: any adapter may ask it.
  if (!allowed.has('(roots)')) patterns.push({ group: ['../*.js', '!../version.js'], message: 'only the commands import the composition roots (src/cli.ts, src/serve.ts)' })
  return {
    files: [`src/${folder}/**/*.ts`],
    rules: {
      '@typescript-eslint/no-restricted-imports': ['error', { paths: pure.has(folder) ? impure : [], patterns }],
      ...(pure.has(folder) ? { 'no-restricted-globals': ['error', { name: 'process', message: 'the core is pure: only the composition roots touch process' }] } : {})
    }
  }
}

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
  ...Object.keys(mayImport).map(folder => folderRules(folder)),
  // The in-cluster integration composes the Kubernetes adapters with the self-managed TLS.
  { ...folderRules('kube', ['tls']), files: ['src/kube/in-cluster.ts'] },
  {
    // Only src/cli.ts hands `process` to the commands (through CliIo).
    files: ['src/**/*.ts'],
    ignores: ['src/cli.ts'],
    rules: { 'no-restricted-globals': ['error', { name: 'process', message: 'only src/cli.ts touches process; commands get it through CliIo' }] }
  }
]
