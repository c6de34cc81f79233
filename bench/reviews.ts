// Generators of the pods and AdmissionReviews the benchmarks send: shaped like what kube-apiserver
// really sends for a Deployment-owned pod at CREATE (defaulted fields, the kube-api-access-* volume,
// generateName without a name, managedFields from kube-controller-manager), at three sizes:
//   - defaulted: one app container, ~5 KB of review (the common case);
//   - large: 8 containers with 150 env vars each and the matching managedFields, ~200 KB;
//   - scaling: C containers sharing E env vars in total (E/C each), from tiny to 50 × 5,000.
// Everything is deterministic (no randomness), so every run measures the same bytes.
import type { V1Container, V1EnvVar, V1ManagedFieldsEntry, V1Pod } from '@kubernetes/client-node'

export interface ReviewSpec {
  /** A short stable name used in results and plots. */
  name: string
  pod: V1Pod
  /** The AdmissionReview (admission.k8s.io/v1) that carries the pod. */
  review: Record<string, unknown>
  /** The review serialised as the API server sends it. */
  body: string
}

const namespace = 'bookinfo'
const replicaSetUid = '0b6f2b8e-3f47-4c39-9a8e-1e2a3b4c5d6e'

/** A realistic env var: mostly literal values, some from the downward API, ConfigMaps and Secrets. */
function envVar (container: number, index: number): V1EnvVar {
  const name = `APP_C${container}_SETTING_${index.toString().padStart(4, '0')}`
  switch (index % 10) {
    case 7: return { name, valueFrom: { configMapKeyRef: { name: `app-config-${container}`, key: `setting-${index}` } } }
    case 8: return { name, valueFrom: { secretKeyRef: { name: `app-secret-${container}`, key: `token-${index}` } } }
    case 9: return { name, valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: 'status.podIP' } } }
    default: return { name, value: `value-${container}-${index}-${'x'.repeat(index % 17)}` }
  }
}

/** A defaulted application container with probes, resources and the service-account mount. */
function appContainer (index: number, env: V1EnvVar[], apiAccessVolume: string): V1Container {
  const port = 9080 + index
  return {
    name: index === 0 ? 'reviews' : `worker-${index}`,
    image: `registry.example.com/bookinfo/reviews-v1:1.20.${index}`,
    ports: [
      { name: `http-${index}`, containerPort: port, protocol: 'TCP' },
      { name: `metrics-${index}`, containerPort: 9400 + index, protocol: 'TCP' }
    ],
    env,
    resources: { requests: { cpu: '250m', memory: '256Mi' }, limits: { cpu: '1', memory: '512Mi' } },
    volumeMounts: [
      { name: 'config', mountPath: '/etc/reviews', readOnly: true },
      { name: 'tmp', mountPath: '/tmp' },
      { name: apiAccessVolume, readOnly: true, mountPath: '/var/run/secrets/kubernetes.io/serviceaccount' }
    ],
    // httpGet probes on named ports: the core rewrites them to the proxy's status port.
    readinessProbe: {
      httpGet: { path: '/health/ready', port: `http-${index}`, scheme: 'HTTP' },
      initialDelaySeconds: 5,
      timeoutSeconds: 1,
      periodSeconds: 10,
      successThreshold: 1,
      failureThreshold: 3
    },
    livenessProbe: {
      httpGet: { path: '/health/live', port, scheme: 'HTTP' },
      initialDelaySeconds: 15,
      timeoutSeconds: 1,
      periodSeconds: 20,
      successThreshold: 1,
      failureThreshold: 3
    },
    terminationMessagePath: '/dev/termination-log',
    terminationMessagePolicy: 'File',
    imagePullPolicy: 'IfNotPresent',
    securityContext: {
      runAsUser: 1000,
      runAsNonRoot: true,
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] }
    }
  }
}

/** managedFields as kube-controller-manager writes them at CREATE: one f: entry per field it set. */
function managedFields (containers: V1Container[]): unknown[] {
  const fContainers: Record<string, unknown> = {}
  for (const c of containers) {
    const fEnv: Record<string, unknown> = { '.': {} }
    for (const e of c.env ?? []) {
      fEnv[`k:{"name":"${e.name}"}`] = e.value !== undefined ? { '.': {}, 'f:name': {}, 'f:value': {} } : { '.': {}, 'f:name': {}, 'f:valueFrom': { '.': {} } }
    }
    fContainers[`k:{"name":"${c.name}"}`] = {
      '.': {},
      'f:env': fEnv,
      'f:image': {},
      'f:imagePullPolicy': {},
      'f:livenessProbe': { '.': {}, 'f:httpGet': { '.': {}, 'f:path': {}, 'f:port': {}, 'f:scheme': {} } },
      'f:name': {},
      'f:ports': { '.': {} },
      'f:readinessProbe': { '.': {}, 'f:httpGet': { '.': {}, 'f:path': {}, 'f:port': {}, 'f:scheme': {} } },
      'f:resources': { '.': {}, 'f:limits': { '.': {}, 'f:cpu': {}, 'f:memory': {} }, 'f:requests': { '.': {}, 'f:cpu': {}, 'f:memory': {} } },
      'f:securityContext': { '.': {}, 'f:runAsUser': {} },
      'f:volumeMounts': { '.': {} }
    }
  }
  return [{
    manager: 'kube-controller-manager',
    operation: 'Update',
    apiVersion: 'v1',
    time: '2026-11-01T10:00:00Z',
    fieldsType: 'FieldsV1',
    fieldsV1: {
      'f:metadata': {
        'f:generateName': {},
        'f:labels': { '.': {}, 'f:app': {}, 'f:pod-template-hash': {}, 'f:version': {} },
        'f:ownerReferences': { '.': {}, [`k:{"uid":"${replicaSetUid}"}`]: {} }
      },
      'f:spec': { 'f:containers': fContainers, 'f:volumes': { '.': {} } }
    }
  }]
}

export interface PodShape {
  /** Number of application containers (≥ 1). */
  containers: number
  /** Env vars in total, spread evenly over the containers (not per container). */
  envTotal: number
  /** Include kube-controller-manager's managedFields (the core drops them; the wire still carries them). */
  managedFields: boolean
}

/** A Deployment-owned pod as the API server sends it at CREATE (defaulted, no name, no namespace). */
export function generatePod (shape: PodShape): V1Pod {
  if (!Number.isInteger(shape.containers) || shape.containers < 1) throw new Error(`containers must be an integer >= 1, got ${shape.containers}`)
  const apiAccess = 'kube-api-access-7xk2p'
  const containers: V1Container[] = []
  let given = 0
  for (let c = 0; c < shape.containers; c++) {
    // Spread envTotal evenly: the first (envTotal mod containers) containers get one more.
    const count = Math.floor(shape.envTotal / shape.containers) + (c < shape.envTotal % shape.containers ? 1 : 0)
    const env: V1EnvVar[] = []
    for (let i = 0; i < count; i++) env.push(envVar(c, given + i))
    given += count
    containers.push(appContainer(c, env, apiAccess))
  }
  const hash = '5f8d9c7b6d'
  return {
    kind: 'Pod',
    apiVersion: 'v1',
    metadata: {
      generateName: `reviews-v1-${hash}-`,
      // The API server sends null here at CREATE; the client-node type says Date.
      creationTimestamp: null as unknown as Date,
      labels: { app: 'reviews', version: 'v1', 'pod-template-hash': hash },
      annotations: { 'kubectl.kubernetes.io/restartedAt': '2026-11-01T10:00:00Z' },
      ownerReferences: [
        { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: `reviews-v1-${hash}`, uid: replicaSetUid, controller: true, blockOwnerDeletion: true }
      ],
      ...(shape.managedFields ? { managedFields: managedFields(containers) as V1ManagedFieldsEntry[] } : {})
    },
    spec: {
      volumes: [
        { name: 'config', configMap: { name: 'reviews-config', defaultMode: 420 } },
        { name: 'tmp', emptyDir: {} },
        {
          name: apiAccess,
          projected: {
            sources: [
              { serviceAccountToken: { expirationSeconds: 3607, path: 'token' } },
              { configMap: { name: 'kube-root-ca.crt', items: [{ key: 'ca.crt', path: 'ca.crt' }] } },
              { downwardAPI: { items: [{ path: 'namespace', fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.namespace' } }] } }
            ],
            defaultMode: 420
          }
        }
      ],
      containers,
      restartPolicy: 'Always',
      terminationGracePeriodSeconds: 30,
      dnsPolicy: 'ClusterFirst',
      serviceAccountName: 'bookinfo-reviews',
      serviceAccount: 'bookinfo-reviews',
      securityContext: { fsGroup: 1000 },
      affinity: {
        podAntiAffinity: {
          preferredDuringSchedulingIgnoredDuringExecution: [{
            weight: 100,
            podAffinityTerm: { labelSelector: { matchLabels: { app: 'reviews' } }, topologyKey: 'kubernetes.io/hostname' }
          }]
        }
      },
      schedulerName: 'default-scheduler',
      tolerations: [
        { key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 },
        { key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 }
      ],
      priority: 0,
      enableServiceLinks: true,
      preemptionPolicy: 'PreemptLowerPriority'
    },
    status: {}
  }
}

/** Wraps a pod in an admission.k8s.io/v1 AdmissionReview for a CREATE by the ReplicaSet controller. */
export function admissionReview (pod: V1Pod, uid = '7f0c3a52-5b7e-4d8a-9f3e-2c1d0e9b8a76'): Record<string, unknown> {
  return {
    kind: 'AdmissionReview',
    apiVersion: 'admission.k8s.io/v1',
    request: {
      uid,
      kind: { group: '', version: 'v1', kind: 'Pod' },
      resource: { group: '', version: 'v1', resource: 'pods' },
      requestKind: { group: '', version: 'v1', kind: 'Pod' },
      requestResource: { group: '', version: 'v1', resource: 'pods' },
      namespace,
      operation: 'CREATE',
      userInfo: {
        username: 'system:serviceaccount:kube-system:replicaset-controller',
        uid: '6a5f4e3d-2c1b-4a09-8f7e-6d5c4b3a2910',
        groups: ['system:serviceaccounts', 'system:serviceaccounts:kube-system', 'system:authenticated']
      },
      object: pod,
      oldObject: null,
      dryRun: false,
      options: { kind: 'CreateOptions', apiVersion: 'meta.k8s.io/v1' }
    }
  }
}

function spec (name: string, pod: V1Pod): ReviewSpec {
  const review = admissionReview(pod)
  return { name, pod, review, body: JSON.stringify(review) }
}

/** The common case: one app container with a handful of env vars; ~5 KB on the wire. */
export function defaultedReview (): ReviewSpec {
  return spec('defaulted-5kb', generatePod({ containers: 1, envTotal: 6, managedFields: true }))
}

/** A large pod: 8 containers × 150 env vars with their managedFields; ~200 KB on the wire. */
export function largeReview (): ReviewSpec {
  return spec('large-200kb', generatePod({ containers: 8, envTotal: 1200, managedFields: true }))
}

/** The scaling series: containers × env vars (total), from tiny to 50 × 5,000. */
export const scalingShapes: ReadonlyArray<{ containers: number, envTotal: number }> = [
  { containers: 1, envTotal: 0 },
  { containers: 1, envTotal: 100 },
  { containers: 5, envTotal: 500 },
  { containers: 10, envTotal: 1000 },
  { containers: 20, envTotal: 2000 },
  { containers: 25, envTotal: 2500 },
  { containers: 40, envTotal: 4000 },
  { containers: 50, envTotal: 5000 }
]

/** A second series at a fixed 50 containers, so env vars alone vary. */
export const envOnlyShapes: ReadonlyArray<{ containers: number, envTotal: number }> = [
  { containers: 50, envTotal: 0 },
  { containers: 50, envTotal: 1000 },
  { containers: 50, envTotal: 2500 },
  { containers: 50, envTotal: 5000 }
]

export function scalingReview (containers: number, envTotal: number): ReviewSpec {
  return spec(`c${containers}-e${envTotal}`, generatePod({ containers, envTotal, managedFields: false }))
}
