// The registration's life: re-applying the MutatingWebhookConfiguration, and a webhook that is down
// with failurePolicy Fail (pods in selected namespaces are refused, others are not) and Ignore (pods
// are admitted without the sidecar), then back up.
import t from 'tap'
import { assertInjected, assertUntouched } from './lib/assertions.js'
import { apiErrorMessage } from './lib/cluster.js'
import { appPod, isInjected } from './lib/pods.js'
import { waitFor } from './lib/processes.js'
import { setupSuite, webhookMode } from './lib/suite.js'

t.test('the webhook registration and failurePolicy', { skip: webhookMode() !== 'local' && 'needs the local webhook (E2E_WEBHOOK=local)' }, async t => {
  const suite = await setupSuite(t, { name: 'life' })
  const enabled = await suite.namespace('enabled', { 'istio-injection': 'enabled' })
  const plain = await suite.namespace('plain')
  const read = async (namespace: string, name: string) => await suite.cluster.core.readNamespacedPod({ namespace, name })

  await t.test('re-applying the configuration keeps injection working', async t => {
    const first = await suite.cluster.admission.readMutatingWebhookConfiguration({ name: suite.configurationName })
    const again = await suite.register({ timeoutSeconds: 7 })
    t.not(again.metadata?.resourceVersion, first.metadata?.resourceVersion, 'the configuration was replaced')
    t.ok(again.webhooks?.every(w => w.timeoutSeconds === 7), 'with the new field')
    t.ok(again.webhooks?.every(w => (w.clientConfig.caBundle ?? '') !== ''), 'and the caBundle')
    await suite.waitUntilInjecting()
    await suite.createPod(enabled, appPod('after-reapply'))
    assertInjected(t, await read(enabled, 'after-reapply'))
  })

  await t.test('webhook down, failurePolicy Fail: pods in selected namespaces are refused, others are not', async t => {
    await suite.register({ failurePolicy: 'Fail', timeoutSeconds: 5 })
    await suite.stopWebhook()
    const refusal = await waitFor('the API server to fail calling the stopped webhook', async () => {
      try {
        await suite.createPod(enabled, appPod('probe-down'), { dryRun: true })
        return undefined
      } catch (err) {
        return apiErrorMessage(err)
      }
    }, 30_000)
    t.match(refusal, /failed calling webhook/, 'the user is told the webhook could not be called')
    await t.rejects(suite.createPod(enabled, appPod('refused')), 'a pod in an injection-enabled namespace is refused')
    await suite.createPod(plain, appPod('unselected'))
    assertUntouched(t, await read(plain, 'unselected'))
  })

  await t.test('webhook down, failurePolicy Ignore: pods are admitted without the sidecar', async t => {
    await suite.register({ failurePolicy: 'Ignore', timeoutSeconds: 5 })
    const admitted = await waitFor('failurePolicy Ignore to take effect', async () => {
      try {
        return await suite.createPod(enabled, appPod('probe-ignore'), { dryRun: true })
      } catch {
        return undefined
      }
    }, 30_000)
    t.notOk(isInjected(admitted), 'the dry-run pod is admitted as is')
    await suite.createPod(enabled, appPod('ignored'))
    assertUntouched(t, await read(enabled, 'ignored'))
  })

  await t.test('webhook back up: injection resumes', async t => {
    await suite.startWebhookAgain()
    await suite.register({ failurePolicy: 'Fail' })
    await suite.waitUntilInjecting()
    await suite.createPod(enabled, appPod('back'))
    assertInjected(t, await read(enabled, 'back'))
  })
})
