// Builders for webhook tests: a defaulted pod as the API server sends it, AdmissionReviews around it,
// a pino logger over memory, and a server built for app.inject() (plain HTTP, no listen).
import { Writable } from 'node:stream'
import { pino } from 'pino'
import type { Logger } from 'pino'
import { Registry } from 'prom-client'
import type { Pod } from '../../src/core/types.js'
import { defaultConfig } from '../../src/core/config.js'
import { createMetrics } from '../../src/http/metrics.js'
import type { WebhookMetrics } from '../../src/http/metrics.js'
import { buildServer } from '../../src/http/server.js'
import type { BuildServerOptions, WebhookServer } from '../../src/http/server.js'

/** A ReplicaSet's pod after API-server defaulting: no name yet (generateName), namespace only on the request. */
export function samplePod (): Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      generateName: 'reviews-v1-5b8f7c6d9-',
      labels: { app: 'reviews', version: 'v1', 'pod-template-hash': '5b8f7c6d9' },
      annotations: { 'kubectl.kubernetes.io/restartedAt': '2026-11-01T10:00:00Z' },
      ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'reviews-v1-5b8f7c6d9', uid: '3f9c1e52-8a31-4e55-9b39-0c1f2f0d7a11', controller: true, blockOwnerDeletion: true }],
      managedFields: [{ manager: 'kube-controller-manager', operation: 'Update', apiVersion: 'v1', time: '2026-11-01T10:00:00Z', fieldsType: 'FieldsV1', fieldsV1: { 'f:metadata': { 'f:generateName': {} } } }]
    },
    spec: {
      containers: [{
        name: 'reviews',
        image: 'docker.io/istio/examples-bookinfo-reviews-v1:1.20.2',
        imagePullPolicy: 'IfNotPresent',
        ports: [{ containerPort: 9080, protocol: 'TCP' }],
        env: [{ name: 'LOG_DIR', value: '/tmp/logs' }, { name: 'DB_PASSWORD', value: 'hunter2-secret-value' }],
        readinessProbe: { httpGet: { path: '/health', port: 9080, scheme: 'HTTP' }, periodSeconds: 10, timeoutSeconds: 1, successThreshold: 1, failureThreshold: 3 },
        resources: {},
        terminationMessagePath: '/dev/termination-log',
        terminationMessagePolicy: 'File',
        volumeMounts: [{ name: 'kube-api-access-x7k2p', mountPath: '/var/run/secrets/kubernetes.io/serviceaccount', readOnly: true }]
      }],
      volumes: [{
        name: 'kube-api-access-x7k2p',
        projected: {
          defaultMode: 420,
          sources: [
            { serviceAccountToken: { expirationSeconds: 3607, path: 'token' } },
            { configMap: { name: 'kube-root-ca.crt', items: [{ key: 'ca.crt', path: 'ca.crt' }] } }
          ]
        }
      }],
      dnsPolicy: 'ClusterFirst',
      restartPolicy: 'Always',
      schedulerName: 'default-scheduler',
      serviceAccountName: 'bookinfo-reviews',
      terminationGracePeriodSeconds: 30,
      enableServiceLinks: true,
      preemptionPolicy: 'PreemptLowerPriority',
      priority: 0
    }
  } as unknown as Pod
}

export interface ReviewOptions {
  apiVersion?: string
  uid?: string
  operation?: string
  namespace?: string
  dryRun?: boolean
  resource?: { group: string, version: string, resource: string }
  kind?: { group: string, version: string, kind: string }
  subResource?: string
}

/** An AdmissionReview as the API server sends it for a pod CREATE (overridable). */
export function reviewFor (object: unknown, options: ReviewOptions = {}): Record<string, unknown> {
  const request: Record<string, unknown> = {
    uid: options.uid ?? '705ab4f5-6393-11e8-b7cc-42010a800002',
    kind: options.kind ?? { group: '', version: 'v1', kind: 'Pod' },
    resource: options.resource ?? { group: '', version: 'v1', resource: 'pods' },
    requestKind: { group: '', version: 'v1', kind: 'Pod' },
    requestResource: { group: '', version: 'v1', resource: 'pods' },
    namespace: options.namespace ?? 'bookinfo',
    operation: options.operation ?? 'CREATE',
    userInfo: { username: 'system:serviceaccount:kube-system:replicaset-controller', uid: 'a1b2', groups: ['system:serviceaccounts', 'system:authenticated'] },
    object,
    oldObject: null,
    dryRun: options.dryRun ?? false,
    options: { kind: 'CreateOptions', apiVersion: 'meta.k8s.io/v1' }
  }
  if (options.subResource !== undefined) request.subResource = options.subResource
  return { apiVersion: options.apiVersion ?? 'admission.k8s.io/v1', kind: 'AdmissionReview', request }
}

/** pino writing JSON lines to memory; lines() parses what was logged so far. */
export function captureLogs (level = 'info'): { logger: Logger, lines: () => Array<Record<string, unknown>>, text: () => string } {
  let text = ''
  const stream = new Writable({
    write (chunk: Buffer, _encoding, done) { text += chunk.toString(); done() }
  })
  const logger = pino({ level }, stream)
  return {
    logger,
    text: () => text,
    lines: () => text.split('\n').filter(line => line !== '').map(line => JSON.parse(line) as Record<string, unknown>)
  }
}

export interface TestServer {
  server: WebhookServer
  metrics: WebhookMetrics
  logs: ReturnType<typeof captureLogs>
}

/** A server for app.inject(): plain HTTP, default config, its own registry, logs in memory. */
export function buildTestServer (overrides: Partial<BuildServerOptions> = {}): TestServer {
  const logs = captureLogs()
  const metrics = createMetrics(new Registry(), { defaultMetrics: false })
  const config = defaultConfig()
  const server = buildServer({ logger: logs.logger, config: () => config, metrics, tls: null, ...overrides })
  return { server, metrics, logs }
}
