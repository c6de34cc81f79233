// A real local control plane for the e2e suite, the way controller-runtime's envtest runs one:
// etcd and kube-apiserver on loopback ports, their own PKI, an admin kubeconfig, a readiness wait
// (including the `default` namespace), and a teardown that keeps the logs when asked to.
// No kubelet, scheduler or controller-manager: pods are admitted (webhooks included), validated and
// stored, and stay Pending. See docs/testing.md
//
// ServiceAccounts: we keep the ServiceAccount admission plugin ON (envtest turns it off) so that the
// webhook sees pods shaped as in a real cluster, with the projected `kube-api-access-*` volume.
// Without kube-controller-manager nobody creates ServiceAccount `default`, so the suite creates it in
// each test namespace (ensureDefaultServiceAccount in cluster.ts) — cheaper than building and
// running kube-controller-manager.
import { execFileSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node'
import { stringify } from 'yaml'
import { httpsGet } from './https.js'
import { generatePki } from './pki.js'
import type { ManagedProcess } from './processes.js'
import { freePort, startProcess, waitFor } from './processes.js'
import { repoRoot } from './repo.js'

export interface ControlPlaneBinaries { kubeApiserver: string, etcd: string, kubectl: string }

export interface ControlPlane {
  readonly dir: string
  readonly kubeconfigPath: string
  readonly server: string
  readonly binaries: ControlPlaneBinaries
  readonly serverVersion: string
  /** Stops kube-apiserver, then etcd; removes the directory unless keepLogs (then says where they are). */
  stop: (options?: { keepLogs?: boolean }) => Promise<void>
}

/**
 * Where the binaries come from, in envtest's order: TEST_ASSET_KUBE_APISERVER / TEST_ASSET_ETCD /
 * TEST_ASSET_KUBECTL, then KUBEBUILDER_ASSETS, then the cache filled by `make control-plane`.
 */
export function findBinaries (env: NodeJS.ProcessEnv = process.env): ControlPlaneBinaries {
  let assets = env.KUBEBUILDER_ASSETS
  if (assets === undefined || assets === '') {
    try {
      assets = execFileSync(join(repoRoot, 'scripts', 'build-control-plane.sh'), ['--print'],
        { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim()
    } catch {
      if (env.TEST_ASSET_KUBE_APISERVER === undefined || env.TEST_ASSET_ETCD === undefined) {
        throw new Error('no control-plane binaries: run `make control-plane` (builds kube-apiserver and etcd), ' +
          'or set KUBEBUILDER_ASSETS to a directory holding kube-apiserver and etcd (e.g. from setup-envtest)')
      }
      assets = ''
    }
  }
  const pick = (override: string | undefined, name: string): string => {
    const path = override !== undefined && override !== '' ? override : join(assets, name)
    if (!existsSync(path)) throw new Error(`control-plane binary ${name} not found at ${path}`)
    return path
  }
  const kubectlInAssets = join(assets, 'kubectl')
  return {
    kubeApiserver: pick(env.TEST_ASSET_KUBE_APISERVER, 'kube-apiserver'),
    etcd: pick(env.TEST_ASSET_ETCD, 'etcd'),
    kubectl: env.TEST_ASSET_KUBECTL ?? (assets !== '' && existsSync(kubectlInAssets) ? kubectlInAssets : 'kubectl')
  }
}

const startTimeoutMs = 90_000 // 2 shared cores: post-start hooks alone can take 20 s

export async function startControlPlane (options: { binaries?: ControlPlaneBinaries, log?: (line: string) => void } = {}): Promise<ControlPlane> {
  const binaries = options.binaries ?? findBinaries()
  const log = options.log ?? (() => {})
  const dir = mkdtempSync(join(tmpdir(), 'sidecar-injector-cp-'))
  const started: ManagedProcess[] = []
  const stopAll = async (): Promise<void> => {
    for (const p of started.reverse()) await p.stop()
    started.length = 0
  }
  try {
    const pki = generatePki(dir)
    // "Pick a free port, then spawn" can race with another process: one retry on a port clash.
    for (let attempt = 1; ; attempt++) {
      try {
        const etcdPort = await freePort()
        const etcd = startProcess('etcd', binaries.etcd, [
          `--data-dir=${join(dir, 'etcd-data')}`,
          `--listen-client-urls=http://127.0.0.1:${etcdPort}`,
          `--advertise-client-urls=http://127.0.0.1:${etcdPort}`,
          '--listen-peer-urls=http://127.0.0.1:0',
          '--unsafe-no-fsync=true', // test data: throw-away, and fsync is the slow part on shared disks
          '--log-level=warn'
        ], join(dir, 'etcd.log'))
        started.push(etcd)
        const gone = (p: ManagedProcess) => () => p.child.exitCode !== null || p.child.signalCode !== null
          ? `${p.name} exited early; last log lines:\n${p.tail()}`
          : undefined
        await waitFor('etcd /health', async () => {
          const res = await fetch(`http://127.0.0.1:${etcdPort}/health`)
          const body = await res.json() as { health?: string }
          return body.health === 'true' ? true : undefined
        }, startTimeoutMs, gone(etcd))
        log(`etcd ready on 127.0.0.1:${etcdPort}`)

        const apiPort = await freePort()
        const apiserver = startProcess('kube-apiserver', binaries.kubeApiserver, [
          `--etcd-servers=http://127.0.0.1:${etcdPort}`,
          '--bind-address=127.0.0.1', '--advertise-address=127.0.0.1', `--secure-port=${apiPort}`,
          `--cert-dir=${join(dir, 'apiserver-certs')}`,
          `--tls-cert-file=${pki.apiserverCert}`, `--tls-private-key-file=${pki.apiserverKey}`,
          `--client-ca-file=${pki.caCert}`,
          `--service-account-issuer=https://127.0.0.1:${apiPort}/`,
          `--service-account-key-file=${pki.serviceAccountPub}`,
          `--service-account-signing-key-file=${pki.serviceAccountKey}`,
          '--service-cluster-ip-range=10.0.0.0/24',
          '--authorization-mode=RBAC',
          '--allow-privileged=true', // the iptables init container needs NET_ADMIN/NET_RAW; Istio's TPROXY mode runs the proxy privileged
          '--endpoint-reconciler-type=none' // no loopback-address Endpoints errors in the log (kubernetes#29374)
        ], join(dir, 'kube-apiserver.log'))
        started.push(apiserver)
        const tls = { ca: readFileSync(pki.caCert), cert: readFileSync(pki.adminCert), key: readFileSync(pki.adminKey) }
        const server = `https://127.0.0.1:${apiPort}`
        await waitFor('kube-apiserver /readyz', async () => {
          const res = await httpsGet(`${server}/readyz`, tls)
          return res.status === 200 ? true : undefined
        }, startTimeoutMs, () => gone(apiserver)() ?? gone(etcd)())

        const kubeconfigPath = join(dir, 'kubeconfig')
        writeFileSync(kubeconfigPath, stringify({
          apiVersion: 'v1',
          kind: 'Config',
          clusters: [{ name: 'e2e', cluster: { server, 'certificate-authority-data': tls.ca.toString('base64') } }],
          users: [{ name: 'e2e-admin', user: { 'client-certificate-data': tls.cert.toString('base64'), 'client-key-data': tls.key.toString('base64') } }],
          contexts: [{ name: 'e2e', context: { cluster: 'e2e', user: 'e2e-admin' } }],
          'current-context': 'e2e'
        }), { mode: 0o600 })

        // envtest waits for the `default` namespace too: it is created by a post-start hook that
        // may finish after /readyz.
        const kc = new KubeConfig()
        kc.loadFromFile(kubeconfigPath)
        const core = kc.makeApiClient(CoreV1Api)
        await waitFor('namespace "default"', async () => (await core.readNamespace({ name: 'default' })).metadata?.name, startTimeoutMs)
        const version = JSON.parse((await httpsGet(`${server}/version`, tls)).body) as { gitVersion?: string }
        log(`kube-apiserver ${version.gitVersion ?? '?'} ready at ${server}`)

        let stopped = false
        return {
          dir,
          kubeconfigPath,
          server,
          binaries,
          serverVersion: version.gitVersion ?? 'unknown',
          stop: async ({ keepLogs = false } = {}) => {
            if (stopped) return
            stopped = true
            await stopAll()
            if (keepLogs) {
              process.stderr.write(`# control-plane logs kept in ${dir} (etcd.log, kube-apiserver.log, kubeconfig)\n`)
            } else {
              rmSync(dir, { recursive: true, force: true })
            }
          }
        }
      } catch (err) {
        const clash = started.some(p => /address already in use/.test(p.tail(50)))
        await stopAll()
        if (clash && attempt < 2) {
          rmSync(join(dir, 'etcd-data'), { recursive: true, force: true })
          continue
        }
        throw err
      }
    }
  } catch (err) {
    await stopAll()
    const message = err instanceof Error ? err.message : String(err)
    throw new Error(`the local control plane did not start: ${message}\n(logs kept in ${dir})`, { cause: err })
  }
}
