// `make e2e`: runs the e2e suite (test/e2e/*.test.ts) with tap against one cluster.
// With $KUBECONFIG set, against that cluster; otherwise this starts one local control plane for all
// the test files (each would otherwise start its own), passes it on in $KUBECONFIG, and stops it at
// the end, keeping its logs when the suite failed.
// Extra arguments go to tap (e.g. a single file: make e2e E2E_ARGS=test/e2e/injection.test.ts).
import { spawn } from 'node:child_process'
import { readdirSync } from 'node:fs'
import { join, relative } from 'node:path'
import { KubeConfig } from '@kubernetes/client-node'
import type { ControlPlane } from './lib/control-plane.js'
import { startControlPlane } from './lib/control-plane.js'
import { repoRoot } from './lib/repo.js'

async function main (args: string[]): Promise<number> {
  const env: NodeJS.ProcessEnv = { ...process.env }
  let controlPlane: ControlPlane | undefined
  if (env.KUBECONFIG !== undefined && env.KUBECONFIG !== '') {
    // Say which cluster before touching it: an exported KUBECONFIG is easy to forget.
    const kc = new KubeConfig()
    kc.loadFromFile(env.KUBECONFIG)
    process.stdout.write(`# e2e against the cluster of KUBECONFIG=${env.KUBECONFIG}: context ${kc.getCurrentContext()}, server ${kc.getCurrentCluster()?.server ?? '?'}\n` +
      '# (unset KUBECONFIG to run against a local control plane instead)\n')
  } else {
    const began = Date.now()
    controlPlane = await startControlPlane({ log: line => { process.stdout.write(`# ${line}\n`) } })
    process.stdout.write(`# local control plane up in ${((Date.now() - began) / 1000).toFixed(1)} s (${controlPlane.dir})\n`)
    env.KUBECONFIG = controlPlane.kubeconfigPath
    env.E2E_CONTROL_PLANE = 'local'
    env.TEST_ASSET_KUBECTL = controlPlane.binaries.kubectl
  }
  const e2eDir = join(repoRoot, 'test', 'e2e')
  const files = args.length > 0
    ? args
    : readdirSync(e2eDir).filter(f => f.endsWith('.test.ts')).sort().map(f => relative(repoRoot, join(e2eDir, f)))
  // package.json's tap config excludes test/e2e from `make test`; naming the files runs them anyway.
  // The files share one cluster but each runs its own webhook, isolated by namespace labels.
  const tap = spawn(join(repoRoot, 'node_modules', '.bin', 'tap'), ['--timeout=600', '--jobs=2', ...files],
    { cwd: repoRoot, env, stdio: 'inherit' })
  const stop = (signal: NodeJS.Signals): void => { tap.kill(signal) }
  process.on('SIGINT', stop)
  process.on('SIGTERM', stop)
  const code = await new Promise<number>(resolve => tap.once('exit', (c, s) => { resolve(c ?? (s === null ? 1 : 128)) }))
  await controlPlane?.stop({ keepLogs: code !== 0 })
  return code
}

process.exitCode = await main(process.argv.slice(2))
