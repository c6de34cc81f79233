// Pods the e2e suite and the demo create, and how to read what the webhook did to a stored pod.
import type { V1Container, V1Pod } from '@kubernetes/client-node'

export const proxyName = 'istio-proxy'
export const initName = 'istio-init'
export const statusAnnotation = 'sidecar.istio.io/status'

/** A minimal application pod, as a user writes it. */
export function appPod (name: string, extra: { labels?: Record<string, string>, annotations?: Record<string, string>, generateName?: boolean } = {}): V1Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      ...(extra.generateName === true ? { generateName: `${name}-` } : { name }),
      labels: { app: name, ...extra.labels },
      ...(extra.annotations === undefined ? {} : { annotations: extra.annotations })
    },
    spec: {
      containers: [{
        name: 'app',
        image: 'docker.io/library/nginx:1.27',
        ports: [{ containerPort: 80, name: 'http' }],
        readinessProbe: { httpGet: { path: '/', port: 80 } }
      }]
    }
  }
}

/** The pod the suite dry-runs to learn whether the registration is active yet. */
export function probePod (name: string): V1Pod {
  return appPod(name)
}

export function proxyContainer (pod: V1Pod): { container: V1Container, native: boolean } | undefined {
  const classic = pod.spec?.containers.find(c => c.name === proxyName)
  if (classic !== undefined) return { container: classic, native: false }
  const native = pod.spec?.initContainers?.find(c => c.name === proxyName)
  return native === undefined ? undefined : { container: native, native: true }
}

export function isInjected (pod: V1Pod): boolean {
  return proxyContainer(pod) !== undefined
}

export function initContainer (pod: V1Pod): V1Container | undefined {
  return pod.spec?.initContainers?.find(c => c.name === initName)
}

/** What a pod got from the webhook, in one line per field (the demo prints it, failures show it). */
export function describeInjection (pod: V1Pod): { containers: string[], initContainers: string[], volumes: string[], status: string | undefined } {
  return {
    containers: (pod.spec?.containers ?? []).map(c => c.name),
    initContainers: (pod.spec?.initContainers ?? []).map(c => c.restartPolicy === 'Always' ? `${c.name} (native sidecar)` : c.name),
    volumes: (pod.spec?.volumes ?? []).map(v => {
      const kind = Object.keys(v).find(k => k !== 'name') ?? '?'
      return `${v.name} (${kind})`
    }),
    status: pod.metadata?.annotations?.[statusAnnotation]
  }
}

/**
 * A Bookinfo-like application (https://istio.io/latest/docs/examples/bookinfo/), one pod per
 * workload, labelled as its Deployment would label them (app, version).
 */
export function bookinfoPods (): V1Pod[] {
  const pod = (app: string, version: string, port = 9080): V1Pod => ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { generateName: `${app}-${version}-`, labels: { app, version } },
    spec: {
      serviceAccountName: 'default',
      containers: [{
        name: app,
        image: `docker.io/istio/examples-bookinfo-${app}-${version}:1.20.2`,
        ports: [{ containerPort: port }],
        readinessProbe: { httpGet: { path: app === 'productpage' ? '/productpage' : '/health', port } }
      }]
    }
  })
  return [pod('productpage', 'v1'), pod('details', 'v1'), pod('ratings', 'v1'), pod('reviews', 'v1'), pod('reviews', 'v2'), pod('reviews', 'v3')]
}
