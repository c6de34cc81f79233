// `make demo`: the whole flow on one machine with no cluster. Starts a local kube-apiserver + etcd,
// the webhook (`sidecar-injector serve` with certificates from `sidecar-injector certs`), registers
// the shipped MutatingWebhookConfiguration, labels a namespace istio-injection=enabled, creates a
// Bookinfo-like set of pods through the real API server, prints what each stored pod got, and
// ends with `sidecar-injector audit` on that namespace (clean, then stale after a proxy image
// change), and tears everything down.
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { V1Pod, V1Volume } from '@kubernetes/client-node'
import { parse, stringify } from 'yaml'
import { runAudit } from './lib/audit.js'
import { bookinfoPods, describeInjection, isInjected, statusAnnotation } from './lib/pods.js'
import { apiErrorMessage } from './lib/cluster.js'
import { examplePods } from './lib/examples.js'
import type { Suite, TestLike } from './lib/suite.js'
import { setupSuite } from './lib/suite.js'

const out = (line = ''): void => { process.stdout.write(line + '\n') }
const cpuAnnotation = 'sidecar.istio.io/proxyCPU'

function describeVolume (v: V1Volume): string {
  const token = v.projected?.sources?.find(s => s.serviceAccountToken !== undefined)?.serviceAccountToken
  if (token !== undefined) return `${v.name} (projected token, audience ${token.audience ?? '-'}, ${String(token.expirationSeconds ?? '-')} s)`
  if (v.configMap !== undefined) return `${v.name} (ConfigMap ${v.configMap.name ?? ''})`
  if (v.emptyDir !== undefined) return `${v.name} (emptyDir${v.emptyDir.medium === undefined ? '' : ' ' + v.emptyDir.medium})`
  if (v.downwardAPI !== undefined) return `${v.name} (downward API)`
  if (v.secret !== undefined) return `${v.name} (Secret ${v.secret.secretName ?? ''})`
  return v.name
}

// The volumes that carry the proxy's identity and trust: the projected token, the CA root, the CRL
// and the directory its workload certificate is written to.
const certificateVolumes = new Set(['istio-token', 'istiod-ca-cert', 'istio-ca-crl', 'workload-certs'])

function printPod (pod: V1Pod): void {
  const seen = describeInjection(pod)
  const injectedVolumes = new Set<string>((JSON.parse(seen.status ?? '{}') as { volumes?: string[] }).volumes ?? [])
  const volumes = (pod.spec?.volumes ?? []).filter(v => injectedVolumes.has(v.name))
  const certificates = volumes.filter(v => certificateVolumes.has(v.name))
  const others = volumes.filter(v => !certificateVolumes.has(v.name))
  out(`  ${pod.metadata?.name ?? '?'}  ${isInjected(pod) ? 'INJECTED' : 'not injected'}`)
  out(`    containers:          ${seen.containers.join(', ')}`)
  out(`    init containers:     ${seen.initContainers.length === 0 ? '-' : seen.initContainers.join(', ')}`)
  if (certificates.length === 0) {
    out('    certificate volumes: -')
  } else {
    certificates.forEach((v, i) => { out(`${i === 0 ? '    certificate volumes: ' : '                         '}${describeVolume(v)}`) })
  }
  if (others.length > 0) out(`    other volumes:       ${others.map(v => v.name).join(', ')}`)
}

/** `sidecar-injector audit` on the demo namespace: clean with today's config, stale after a new proxy image. */
async function demoAudit (suite: Suite, namespace: string): Promise<void> {
  const config = suite.configFile
  if (config === undefined) return
  out()
  out(`$ sidecar-injector audit -n ${namespace}`)
  const clean = await runAudit(suite.cluster, ['-n', namespace, '--config', config])
  out(indent(clean.stdout + clean.stderr) + `  (exit ${clean.code})`)
  const changed = join(suite.workDir, 'new-image.yaml')
  const current = (parse(readFileSync(config, 'utf8')) ?? {}) as Record<string, unknown>
  writeFileSync(changed, stringify({ ...current, images: { ...(current.images as object | undefined), proxy: demoNewImage } }))
  out()
  out(`after a config change (images.proxy: ${demoNewImage}), the running pods are stale:`)
  out(`$ sidecar-injector audit -n ${namespace}`)
  const stale = await runAudit(suite.cluster, ['-n', namespace, '--config', changed])
  out(indent(stale.stdout + stale.stderr) + `  (exit ${stale.code})`)
}

const demoNewImage = 'docker.io/istio/proxyv2:1.29.0'
const indent = (text: string): string => text.split('\n').map(line => line === '' ? line : `  ${line}`).join('\n')

async function main (): Promise<number> {
  // The demo always runs its own control plane and webhook, whatever the shell has set.
  delete process.env.KUBECONFIG
  process.env.E2E_WEBHOOK = 'local'
  const cleanups: Array<() => Promise<void> | void> = []
  let failed = false
  const t: TestLike = {
    teardown: fn => { cleanups.push(fn) },
    passing: () => !failed,
    comment: (...args) => { out(`# ${args.map(String).join(' ')}`) }
  }
  const began = Date.now()
  try {
    out('starting a local kube-apiserver + etcd and the webhook ...')
    const suite = await setupSuite(t, { name: 'demo', log: line => { out(`  ${line}`) } })
    out(`  webhook serving on ${suite.webhook?.url ?? '?'}, registered as MutatingWebhookConfiguration ${suite.configurationName}`)
    out(`  ready in ${((Date.now() - began) / 1000).toFixed(1)} s`)

    const { pods, source } = examplePods() ?? { pods: bookinfoPods(), source: 'test/e2e/lib/pods.ts (bookinfoPods)' }
    const namespace = await suite.namespace('bookinfo', { 'istio-injection': 'enabled' })
    out()
    out(`namespace ${namespace} (istio-injection=enabled): ${pods.length} pods from ${source}`)
    for (const pod of pods) {
      const { namespace: _ignored, ...metadata } = pod.metadata ?? {}
      try {
        const created = await suite.createPod(namespace, { ...pod, metadata })
        printPod(await suite.cluster.core.readNamespacedPod({ namespace, name: created.metadata?.name ?? '' }))
      } catch (err) {
        out(`  ${pod.metadata?.name ?? pod.metadata?.generateName ?? '?'}  REJECTED: ${err instanceof Error ? err.message : String(err)}`)
      }
    }

    const first = pods[0]
    if (first !== undefined) {
      const { namespace: _ignored, name = 'productpage-v1', ...metadata } = first.metadata ?? {}
      out()
      out(`namespace ${namespace}: the same pod with an invalid annotation (${cpuAnnotation}: "two cores")`)
      try {
        await suite.createPod(namespace, {
          ...first,
          metadata: { ...metadata, name: `${name}-invalid`, annotations: { ...metadata.annotations, [cpuAnnotation]: 'two cores' } }
        })
        out('  unexpectedly admitted')
      } catch (err) {
        out(`  REFUSED by the API server: ${apiErrorMessage(err)}`)
      }

      const plain = await suite.namespace('legacy')
      out()
      out(`namespace ${plain} (no label): the same pod`)
      const created = await suite.createPod(plain, { ...first, metadata: { ...metadata, name } })
      printPod(await suite.cluster.core.readNamespacedPod({ namespace: plain, name: created.metadata?.name ?? '' }))
    }
    out()
    out(`(the status annotation ${statusAnnotation} on each injected pod records what was added)`)
    await demoAudit(suite, namespace)
    return 0
  } catch (err) {
    failed = true
    out(`demo failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}`)
    return 1
  } finally {
    out('tearing down ...')
    for (const fn of cleanups.reverse()) {
      try {
        await fn()
      } catch (err) {
        out(`  teardown: ${err instanceof Error ? err.message : String(err)}`)
      }
    }
    out(`done in ${((Date.now() - began) / 1000).toFixed(1)} s`)
  }
}

process.exitCode = await main()
