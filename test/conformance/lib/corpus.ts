// The workloads both injectors are given: our test fixtures and examples, and every pod-bearing
// workload in Istio's samples/ (read from the Go module cache, never copied), plus the Pods a
// controller would create from each for the webhook path.
import { execFileSync } from 'node:child_process'
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join, relative } from 'node:path'
import { parseAllDocuments } from 'yaml'
import { templatePaths as manifestTemplatePaths } from '../../../src/workloads/templates.js'
import type { Pod } from '../../../src/core/types.js'

type Obj = Record<string, unknown>
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v)

/** Where each kind keeps its pod template: ours, and Argo Rollouts' Rollout (Istio names its pods, neither injects it offline). */
export const templatePaths: Record<string, string[]> = { ...manifestTemplatePaths, Rollout: ['spec', 'template'] }

export interface Workload {
  /** `<source> <kind>/<name>`: what the allow-list's `workload` globs match. */
  name: string
  kind: string
  doc: Obj
}

export function templateOf (doc: Obj, kind: string): Obj | undefined {
  let at: unknown = doc
  for (const key of templatePaths[kind] ?? ['-']) at = isObj(at) ? at[key] : undefined
  return isObj(at) ? at : undefined
}

function yamlFiles (dir: string): string[] {
  return readdirSync(dir).sort().flatMap(entry => {
    const path = join(dir, entry)
    // injected/ directories and *.injected.* files hold our own outputs (made with our default images), not inputs.
    if (statSync(path).isDirectory()) return entry === 'injected' ? [] : yamlFiles(path)
    return /\.(ya?ml|json)$/.test(entry) && !entry.includes('.injected.') ? [path] : []
  })
}

/** The pod-bearing documents of the files under `dir` (files that are not plain YAML, e.g. Helm templates, are left out). */
export function workloadsIn (dir: string, base: string, files = yamlFiles(dir)): Workload[] {
  return files.flatMap(file => {
    let text
    try {
      text = readFileSync(file, 'utf8')
    } catch {
      return []
    }
    return workloadsOf(text, relative(base, file))
  })
}

/** The pod-bearing documents of a YAML stream, named `<source> <kind>/<name>`. */
export function workloadsOf (text: string, source: string): Workload[] {
  let docs
  try {
    docs = parseAllDocuments(text)
  } catch {
    return []
  }
  const list = Array.isArray(docs) ? docs : [docs]
  if (list.some(d => d.errors.length > 0)) return []
  return list.flatMap(d => {
    const doc: unknown = d.toJS()
    if (!isObj(doc) || typeof doc.kind !== 'string' || templateOf(doc, doc.kind) === undefined) return []
    if (doc.kind === 'Rollout' && doc.apiVersion !== 'argoproj.io/v1alpha1') return []
    const meta = isObj(doc.metadata) ? doc.metadata : {}
    const name = typeof meta.name === 'string' ? meta.name : String(meta.generateName ?? '(unnamed)')
    return [{ name: `${source} ${doc.kind}/${name}`, kind: doc.kind, doc }]
  })
}

/** The templates of Istio's default install that the profiles build (src/core/profiles.ts). */
const profileTemplates = new Set(['sidecar', 'gateway', 'grpc-agent', 'grpc-simple'])

/**
 * Istio's own inject test inputs (pkg/kube/inject/testdata/inject) that ask for templates of the default
 * install with inject.istio.io/templates: the gateways and gRPC workloads Istio wrote for its templates.
 * Inputs for templates an IstioOperator file adds (custom, spire) need settings the oracle does not load.
 */
export function templateTestInputs (moduleDir: string): Workload[] {
  const dir = join(moduleDir, 'pkg/kube/inject/testdata/inject')
  const files = readdirSync(dir).filter(f => /\.ya?ml$/.test(f) && !f.endsWith('.iop.yaml')).sort().map(f => join(dir, f))
  return workloadsIn(dir, moduleDir, files).filter(w => {
    const template = templateOf(w.doc, w.kind) ?? w.doc
    const meta = isObj(template.metadata) ? template.metadata : {}
    const value = isObj(meta.annotations) ? meta.annotations['inject.istio.io/templates'] : undefined
    return typeof value === 'string' && value.split(',').every(n => profileTemplates.has(n.trim()))
  })
}

/**
 * Istio's gateway Helm chart (manifests/charts/gateway), rendered by real helm with its default values:
 * how Istio deploys an ingress gateway today, a Deployment whose istio-proxy (`image: auto`) the
 * `gateway` template fills in.
 */
export function gatewayChartWorkloads (moduleDir: string, helm: string): Workload[] {
  const chart = join(moduleDir, 'manifests/charts/gateway')
  const text = execFileSync(helm, ['template', 'istio-ingressgateway', chart, '--namespace', 'istio-ingress'], { encoding: 'utf8' })
  return workloadsOf(text, 'manifests/charts/gateway (helm template)')
}

const hash = '6c5d9f7b8'
const uid = '0b1f5c3e-7d2a-4c8e-9f61-2a4b6c8d0e1f'

/**
 * The Pod a controller would send to the API server for this workload, as the admission webhook sees
 * it: generateName and a controller ownerReference (pods of a StatefulSet, and bare pods, are named),
 * the controller's labels, and no namespace (it comes with the request).
 */
export function controllerPod (w: Workload): { pod: Pod, namespace: string } {
  const meta = isObj(w.doc.metadata) ? w.doc.metadata : {}
  const namespace = typeof meta.namespace === 'string' ? meta.namespace : 'default'
  const name = typeof meta.name === 'string' ? meta.name : 'unnamed'
  if (w.kind === 'Pod') {
    const { namespace: _ns, ...rest } = meta
    return { pod: { ...w.doc, metadata: rest } as Pod, namespace }
  }
  const template = templateOf(w.doc, w.kind) ?? {}
  const tmeta = isObj(template.metadata) ? template.metadata : {}
  const labels = { ...(isObj(tmeta.labels) ? tmeta.labels as Record<string, string> : {}) }
  const owner = (apiVersion: string, kind: string, ownerName: string): Obj[] =>
    [{ apiVersion, kind, name: ownerName, uid, controller: true, blockOwnerDeletion: true }]
  let generateName: string | undefined
  let podName: string | undefined
  let ownerReferences: Obj[]
  switch (w.kind) {
    case 'Deployment':
      labels['pod-template-hash'] = hash
      generateName = `${name}-${hash}-`
      ownerReferences = owner('apps/v1', 'ReplicaSet', `${name}-${hash}`)
      break
    case 'Rollout':
      labels['rollouts-pod-template-hash'] = hash
      generateName = `${name}-${hash}-`
      ownerReferences = owner('apps/v1', 'ReplicaSet', `${name}-${hash}`)
      break
    case 'StatefulSet':
      podName = `${name}-0`
      Object.assign(labels, { 'apps.kubernetes.io/pod-index': '0', 'controller-revision-hash': `${name}-${hash}`, 'statefulset.kubernetes.io/pod-name': podName })
      ownerReferences = owner('apps/v1', 'StatefulSet', name)
      break
    case 'DaemonSet':
      Object.assign(labels, { 'controller-revision-hash': hash, 'pod-template-generation': '1' })
      generateName = `${name}-`
      ownerReferences = owner('apps/v1', 'DaemonSet', name)
      break
    case 'CronJob':
    case 'Job': {
      const job = w.kind === 'CronJob' ? `${name}-29384716` : name
      Object.assign(labels, { 'batch.kubernetes.io/controller-uid': uid, 'batch.kubernetes.io/job-name': job, 'controller-uid': uid, 'job-name': job })
      generateName = `${job}-`
      ownerReferences = owner('batch/v1', 'Job', job)
      break
    }
    case 'ReplicationController':
      generateName = `${name}-`
      ownerReferences = owner('v1', 'ReplicationController', name)
      break
    default:
      generateName = `${name}-`
      ownerReferences = owner('apps/v1', 'ReplicaSet', name)
  }
  const metadata: Obj = { ...tmeta, labels, ownerReferences }
  if (generateName !== undefined) metadata.generateName = generateName
  if (podName !== undefined) metadata.name = podName
  delete metadata.namespace
  return { pod: { apiVersion: 'v1', kind: 'Pod', metadata, spec: template.spec } as Pod, namespace }
}
