// The few Kubernetes API calls the injector makes, over @kubernetes/client-node 1.4: the CA Secret,
// our MutatingWebhookConfiguration, and Nodes. Status codes that are outcomes, not failures
// (404 absent, 409 exists/conflict, 422 a failed JSON-patch test), come back as values.
import type {
  KubeConfig, V1MutatingWebhookConfiguration, V1Node, V1Secret
} from '@kubernetes/client-node'
import {
  AdmissionregistrationV1Api, ApiException, CoreV1Api, PatchStrategy, Watch, setHeaderOptions
} from '@kubernetes/client-node'

/** An RFC 6902 operation, as sent to the API server. */
export interface JsonPatchOperation {
  op: 'add' | 'replace' | 'test' | 'remove'
  path: string
  value?: unknown
}

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR'

export interface WatchHandle {
  stop: () => void
}

export interface KubeApi {
  readSecret: (namespace: string, name: string) => Promise<V1Secret | undefined>
  /** 'exists' when another writer created it first. */
  createSecret: (namespace: string, secret: V1Secret) => Promise<V1Secret | 'exists'>
  /** Optimistic: the Secret's metadata.resourceVersion must still be current, else 'conflict'. */
  replaceSecret: (namespace: string, secret: V1Secret) => Promise<V1Secret | 'conflict'>
  readWebhookConfiguration: (name: string) => Promise<V1MutatingWebhookConfiguration | undefined>
  /** 'conflict' when a `test` operation failed (the object changed under us); undefined when it is gone. */
  patchWebhookConfiguration: (name: string, operations: readonly JsonPatchOperation[]) => Promise<V1MutatingWebhookConfiguration | 'conflict' | undefined>
  listWebhookConfigurations: (fieldSelector: string) => Promise<{ items: V1MutatingWebhookConfiguration[], resourceVersion: string }>
  listNodes: () => Promise<{ items: V1Node[], resourceVersion: string }>
  /**
   * Watches `path` from `resourceVersion`; `onEvent` gets each event's type and object (raw JSON),
   * `onDone` is called once, when the stream ends (err undefined) or fails.
   */
  watch: (path: string, query: Record<string, string | number | boolean>, onEvent: (type: WatchEventType, object: any) => void, onDone: (err?: Error) => void) => Promise<WatchHandle>
}

export const webhookConfigurationsPath = '/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations'
export const nodesPath = '/api/v1/nodes'
export const nodePageSize = 500

function statusOf (err: unknown): number | undefined {
  return err instanceof ApiException ? err.code : undefined
}

export function createKubeApi (kubeConfig: KubeConfig): KubeApi {
  const core = kubeConfig.makeApiClient(CoreV1Api)
  const admission = kubeConfig.makeApiClient(AdmissionregistrationV1Api)
  const watcher = new Watch(kubeConfig)
  return {
    async readSecret (namespace, name) {
      try {
        return await core.readNamespacedSecret({ namespace, name })
      } catch (err) {
        if (statusOf(err) === 404) return undefined
        throw err
      }
    },
    async createSecret (namespace, body) {
      try {
        return await core.createNamespacedSecret({ namespace, body })
      } catch (err) {
        if (statusOf(err) === 409) return 'exists'
        throw err
      }
    },
    async replaceSecret (namespace, body) {
      try {
        return await core.replaceNamespacedSecret({ namespace, name: body.metadata?.name ?? '', body })
      } catch (err) {
        if (statusOf(err) === 409) return 'conflict'
        throw err
      }
    },
    async readWebhookConfiguration (name) {
      try {
        return await admission.readMutatingWebhookConfiguration({ name })
      } catch (err) {
        if (statusOf(err) === 404) return undefined
        throw err
      }
    },
    async patchWebhookConfiguration (name, operations) {
      try {
        return await admission.patchMutatingWebhookConfiguration({ name, body: operations }, setHeaderOptions('Content-Type', PatchStrategy.JsonPatch))
      } catch (err) {
        const status = statusOf(err)
        if (status === 404) return undefined
        // A failed `test` operation is answered 422 (Invalid) by the API server; 409 if the write raced.
        if (status === 409 || status === 422) return 'conflict'
        throw err
      }
    },
    async listWebhookConfigurations (fieldSelector) {
      const list = await admission.listMutatingWebhookConfiguration({ fieldSelector })
      return { items: list.items, resourceVersion: list.metadata?.resourceVersion ?? '' }
    },
    async listNodes () {
      // In pages: a large cluster's Node list is tens of MB in one piece. The pages form one
      // consistent snapshot, at the resourceVersion the watch then starts from.
      const items: V1Node[] = []
      let resourceVersion = ''
      let next: string | undefined
      do {
        const page = await core.listNode({ limit: nodePageSize, ...(next === undefined ? {} : { _continue: next }) })
        items.push(...page.items)
        resourceVersion = page.metadata?.resourceVersion ?? resourceVersion
        next = page.metadata?._continue === '' ? undefined : page.metadata?._continue
      } while (next !== undefined)
      return { items, resourceVersion }
    },
    async watch (path, query, onEvent, onDone) {
      const controller = await watcher.watch(path, query, (type, object) => { onEvent(type as WatchEventType, object) }, (err: unknown) => {
        onDone(err === null || err === undefined ? undefined : err instanceof Error ? err : new Error(String(err)))
      })
      return { stop: () => { controller.abort() } }
    }
  }
}
