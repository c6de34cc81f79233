// The webhook (through the real API server) and the offline CLI (`sidecar-injector inject`) give the
// same answer for the examples/ pods: same containers, init containers, injected volumes, labels,
// status annotation, proxy image, arguments, environment and ports, init arguments — given the same
// input, i.e. the pod as the API server hands it to the webhook.
import { execFile } from 'node:child_process'
import type { V1Pod } from '@kubernetes/client-node'
import t from 'tap'
import { parseAllDocuments } from 'yaml'
import { examplePods } from './lib/examples.js'
import { initContainer, proxyContainer, statusAnnotation } from './lib/pods.js'
import { cliPath } from './lib/repo.js'
import { setupSuite } from './lib/suite.js'

const examples = examplePods()

function parseIfJson (text: string | undefined): unknown {
  if (text === undefined || !/^[[{]/.test(text)) return text
  try {
    return JSON.parse(text)
  } catch {
    return text
  }
}

/** The parts of an injected pod both paths must agree on. */
function withoutAuditKeys (status: unknown): unknown {
  if (typeof status !== 'object' || status === null) return status
  const { digest: _digest, injector: _injector, ...rest } = status as Record<string, unknown>
  return rest
}

function injectedShape (pod: V1Pod): Record<string, unknown> {
  const status = pod.metadata?.annotations?.[statusAnnotation]
  const injectedVolumes = new Set<string>((JSON.parse(status ?? '{}') as { volumes?: string[] }).volumes ?? [])
  const proxy = proxyContainer(pod)?.container
  const labels = Object.fromEntries(Object.entries(pod.metadata?.labels ?? {}).sort(([a], [b]) => a.localeCompare(b)))
  return {
    labels,
    // JSON inside strings is compared as data: key order follows the input object's, and the
    // client library re-orders the keys of the pod it reads back.
    // Without the keys audit compares: the digest hashes the JSON inside env values byte for byte, and
    // its key order follows the input (the API server's for the webhook, the file's for the CLI); the
    // injector version is recorded by the webhook only (docs/audit.md).
    status: withoutAuditKeys(parseIfJson(status)),
    containers: pod.spec?.containers.map(c => c.name),
    initContainers: pod.spec?.initContainers?.map(c => c.name),
    volumes: (pod.spec?.volumes ?? []).filter(v => injectedVolumes.has(v.name)).map(v => v.name),
    proxyImage: proxy?.image,
    proxyArgs: proxy?.args,
    proxyEnv: proxy?.env?.map(e => e.value === undefined ? e.name : { [e.name]: parseIfJson(e.value) }),
    proxyPorts: proxy?.ports?.map(p => p.containerPort),
    initArgs: initContainer(pod)?.args
  }
}

t.test('webhook and offline CLI agree on examples/', { skip: examples === undefined && 'no example pods under examples/' }, async t => {
  const suite = await setupSuite(t, { name: 'parity' })
  const ns = await suite.namespace('parity', { 'istio-injection': 'enabled' })
  const plain = await suite.namespace('parity-plain')
  for (const example of examples?.pods ?? []) {
    const name = example.metadata?.name ?? ''
    await t.test(name, async t => {
      const { namespace: _ignored, ...metadata } = example.metadata ?? {}
      const created = await suite.createPod(ns, { ...example, metadata })
      const stored = await suite.cluster.core.readNamespacedPod({ namespace: ns, name: created.metadata?.name ?? '' })
      // The webhook sees the pod after the API server's defaulting and built-in admission (the
      // ServiceAccount token volume, probe and port defaults): give the CLI that same pod, taken
      // from a dry-run in a namespace the webhook does not select.
      const defaulted = await suite.createPod(plain, { ...example, metadata }, { dryRun: true })
      const { uid: _uid, resourceVersion: _rv, creationTimestamp: _ct, managedFields: _mf, namespace: _ns, ...userMetadata } = defaulted.metadata ?? {}
      const config = suite.configFile === undefined ? [] : ['--config', suite.configFile]
      // With nativeSidecars: auto the webhook decides from the Nodes it watches (native on a 1.34
      // kind cluster; unknown, so classic, on the node-less local control plane). Offline there are no
      // Nodes: give the CLI the same fact, so that the comparison is of everything else.
      const mode = suite.mode === 'in-cluster' ? [proxyContainer(stored)?.native === true ? '--native' : '--classic'] : []
      const { stdout } = await runWithInput([cliPath, 'inject', '-f', '-', '--namespace', ns, '--namespace-labels', 'istio-injection=enabled', ...config, ...mode],
        JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: userMetadata, spec: defaulted.spec }))
      const offline = parseAllDocuments(stdout).map(d => d.toJS() as V1Pod)[0]
      t.ok(offline, 'the CLI printed the injected pod')
      if (offline === undefined) return
      t.same(injectedShape(stored), injectedShape(offline), 'same injection through the API server and offline')
    })
  }
})

async function runWithInput (args: string[], input: string): Promise<{ stdout: string }> {
  return await new Promise((resolve, reject) => {
    const child = execFile(process.execPath, args, { maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      if (err !== null) reject(new Error(`${err.message}\n${stderr}`))
      else resolve({ stdout })
    })
    child.stdin?.end(input)
  })
}
