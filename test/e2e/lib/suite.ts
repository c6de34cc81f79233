// What every e2e test file needs: a cluster, the webhook, and its registration.
//
// E2E_WEBHOOK=local (default): this process runs `sidecar-injector serve` on 127.0.0.1 and registers
//   the shipped MutatingWebhookConfiguration pointed at it — the API server must be able to reach
//   127.0.0.1, i.e. the local control plane (started here, or by `make e2e` and passed in $KUBECONFIG).
// E2E_WEBHOOK=in-cluster: the webhook was installed from manifests/ (make e2e-kind); cases that must
//   stop or re-register the webhook are skipped.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { V1MutatingWebhookConfiguration, V1Pod } from '@kubernetes/client-node'
import type { Cluster, Teardown } from './cluster.js'
import { connectCluster, createNamespace, isApiError } from './cluster.js'
import { isInjected, probePod } from './pods.js'
import { waitFor } from './processes.js'
import type { LocalWebhook, WebhookCerts } from './webhook.js'
import { generateWebhookCerts, startWebhook } from './webhook.js'
import { localWebhookConfiguration, shippedInjectorConfig } from './webhook-configuration.js'

export type WebhookMode = 'local' | 'in-cluster'

/** The part of tap's Test the harness uses. */
export interface TestLike { teardown: Teardown, passing: () => boolean, comment: (...args: unknown[]) => void }

export interface Suite {
  readonly cluster: Cluster
  readonly mode: WebhookMode
  readonly workDir: string
  /** Set in local mode. */
  readonly certs: WebhookCerts | undefined
  /** The injector config of manifests/ written to a file (the local webhook serves with it), if the manifests ship one. */
  readonly configFile: string | undefined
  /** The running local webhook (local mode); replaced by restartWebhook(). */
  webhook: LocalWebhook | undefined
  readonly configurationName: string
  /** A fresh namespace (with ServiceAccount default) carrying these labels, deleted at teardown. */
  namespace: (prefix: string, labels?: Record<string, string>) => Promise<string>
  createPod: (namespace: string, pod: V1Pod, options?: { dryRun?: boolean }) => Promise<V1Pod>
  /** Creates or replaces (re-applies) the local MutatingWebhookConfiguration. */
  register: (options?: { failurePolicy?: 'Fail' | 'Ignore', timeoutSeconds?: number }) => Promise<V1MutatingWebhookConfiguration>
  /** Polls a server-side dry-run pod in an injection-enabled namespace until the sidecar shows up (registration is asynchronous). */
  waitUntilInjecting: () => Promise<void>
  stopWebhook: () => Promise<void>
  startWebhookAgain: () => Promise<void>
}

/** Whether the URL's host is a loopback address (127.0.0.0/8, ::1, localhost). */
export function isLoopbackUrl (url: string): boolean {
  try {
    const host = new URL(url).hostname
    return host === 'localhost' || host === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(host)
  } catch {
    return false
  }
}

export function webhookMode (env: NodeJS.ProcessEnv = process.env): WebhookMode {
  const mode = env.E2E_WEBHOOK ?? 'local'
  if (mode !== 'local' && mode !== 'in-cluster') throw new Error(`E2E_WEBHOOK must be local or in-cluster, not ${mode}`)
  return mode
}

export async function setupSuite (t: TestLike, options: { name: string, log?: (line: string) => void }): Promise<Suite> {
  const failed = (): boolean => !t.passing()
  const teardown: Teardown = fn => { t.teardown(fn) }
  const cluster = await connectCluster({ teardown, failed, ...(options.log === undefined ? {} : { log: options.log }) })
  const mode = webhookMode()
  const workDir = mkdtempSync(join(tmpdir(), `sidecar-injector-e2e-${options.name}-`))
  t.teardown(() => {
    if (failed()) t.comment(`webhook certificates and log kept in ${workDir}`)
    else rmSync(workDir, { recursive: true, force: true })
  })
  const configurationName = `sidecar-injector-e2e-${options.name}-${cluster.runId}`
  // Serve with the config the manifests install, so that local and in-cluster runs agree.
  const shippedConfig = shippedInjectorConfig()
  const configFile = shippedConfig === undefined ? undefined : join(workDir, 'config.yaml')
  if (configFile !== undefined) writeFileSync(configFile, shippedConfig ?? '')
  const withConfig = configFile === undefined ? {} : { configFile }
  let certs: WebhookCerts | undefined
  let logCount = 0
  const suite: Suite = {
    cluster,
    mode,
    workDir,
    certs: undefined,
    configFile,
    webhook: undefined,
    configurationName,
    namespace: async (prefix, labels = {}) => await createNamespace(cluster, `${options.name}-${prefix}`, labels, teardown),
    createPod: async (namespace, pod, { dryRun = false } = {}) =>
      await cluster.core.createNamespacedPod({ namespace, body: pod, ...(dryRun ? { dryRun: 'All' } : {}) }),
    register: async ({ failurePolicy, timeoutSeconds } = {}) => {
      const webhook = suite.webhook
      if (mode !== 'local' || webhook === undefined || certs === undefined) throw new Error('register() needs the local webhook (E2E_WEBHOOK=local)')
      const body = localWebhookConfiguration({
        name: configurationName,
        url: webhook.url,
        caPem: certs.caPem,
        runId: cluster.runId,
        ...(failurePolicy === undefined ? {} : { failurePolicy }),
        ...(timeoutSeconds === undefined ? {} : { timeoutSeconds })
      })
      try {
        return await cluster.admission.createMutatingWebhookConfiguration({ body })
      } catch (err) {
        if (!isApiError(err, 409)) throw err
        const current = await cluster.admission.readMutatingWebhookConfiguration({ name: configurationName })
        return await cluster.admission.replaceMutatingWebhookConfiguration({
          name: configurationName,
          body: { ...body, metadata: { ...body.metadata, resourceVersion: current.metadata?.resourceVersion ?? '' } }
        })
      }
    },
    waitUntilInjecting: async () => {
      const namespace = await suite.namespace('probe', { 'istio-injection': 'enabled' })
      await waitFor('the webhook to inject a dry-run pod', async () => {
        const pod = await suite.createPod(namespace, probePod('probe'), { dryRun: true })
        return isInjected(pod) ? true : undefined
      }, 30_000)
    },
    stopWebhook: async () => {
      await suite.webhook?.stop()
    },
    startWebhookAgain: async () => {
      if (certs === undefined) throw new Error('no local webhook in this mode')
      const port = suite.webhook?.port
      suite.webhook = await startWebhook({ certs, logFile: join(workDir, `webhook-${++logCount}.log`), ...withConfig, ...(port === undefined ? {} : { port }) })
    }
  }
  if (mode === 'local') {
    const server = cluster.kc.getCurrentCluster()?.server ?? ''
    if (!isLoopbackUrl(server)) {
      throw new Error(`E2E_WEBHOOK=local runs the webhook on 127.0.0.1, which the API server at ${server} cannot reach: ` +
        'unset KUBECONFIG to use the local control plane, or install the webhook from manifests/ and set E2E_WEBHOOK=in-cluster')
    }
    certs = await generateWebhookCerts(join(workDir, 'certs'))
    Object.assign(suite, { certs })
    suite.webhook = await startWebhook({ certs, logFile: join(workDir, `webhook-${++logCount}.log`), ...withConfig })
    t.teardown(async () => { await suite.webhook?.stop() })
    await suite.register()
    // Delete the registration before the webhook stops (teardowns run last-in first-out), so a shared
    // cluster is never left with a configuration pointing at a dead webhook.
    t.teardown(async () => { await cluster.admission.deleteMutatingWebhookConfiguration({ name: configurationName }).catch(() => {}) })
  }
  await suite.waitUntilInjecting()
  return suite
}
