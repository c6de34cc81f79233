// A fake Kubernetes API server on loopback: a fastify app speaking the few endpoints src/kube uses
// (Secrets, MutatingWebhookConfigurations incl. JSON patch, Nodes; list and streaming watch with
// resourceVersions and 410 Gone), plus the client-node KubeConfig that points at it.
import type { ServerResponse } from 'node:http'
import Fastify from 'fastify'
import type { FastifyInstance } from 'fastify'
import jsonPatch from 'fast-json-patch'
import type { Operation } from 'fast-json-patch'
import { KubeConfig } from '@kubernetes/client-node'

type Obj = Record<string, any>

interface Watcher {
  collection: string
  name: string | undefined
  res: ServerResponse
}

export interface RecordedRequest {
  method: string
  url: string
  contentType: string | undefined
  at: number
}

export interface FakeApiServer {
  app: FastifyInstance
  kubeConfig: KubeConfig
  requests: RecordedRequest[]
  get: (collection: string, name: string) => Obj | undefined
  /** Creates or replaces an object as another client would (bumps resourceVersion, notifies watchers). */
  put: (collection: string, object: Obj) => Obj
  remove: (collection: string, name: string) => void
  /** Ends every open watch cleanly, as the server does when timeoutSeconds passes. */
  closeWatches: () => void
  /** Forgets events up to now: watches from older versions get 410 Gone. */
  compact: () => void
  /** The next request matching method and URL prefix is answered with this status. */
  failNext: (method: string, urlPrefix: string, status: number) => void
  openWatches: () => number
  close: () => Promise<void>
}

export const collections = {
  secrets: (namespace: string) => `/api/v1/namespaces/${namespace}/secrets`,
  webhooks: '/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations',
  nodes: '/api/v1/nodes'
}

const listKinds: Record<string, string> = { secrets: 'SecretList', mutatingwebhookconfigurations: 'MutatingWebhookConfigurationList', nodes: 'NodeList' }

function status (code: number, reason: string, message: string): Obj {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code }
}

export async function startFakeApiServer (): Promise<FakeApiServer> {
  const store = new Map<string, Map<string, Obj>>()
  const events: Array<{ collection: string, type: string, object: Obj, rv: number }> = []
  let compactedRv = 0
  let rv = 100
  const watchers = new Set<Watcher>()
  const requests: RecordedRequest[] = []
  const failures: Array<{ method: string, urlPrefix: string, status: number }> = []

  const bucket = (collection: string): Map<string, Obj> => {
    let b = store.get(collection)
    if (b === undefined) store.set(collection, b = new Map())
    return b
  }
  const notify = (collection: string, type: string, object: Obj, at: number): void => {
    events.push({ collection, type, object: structuredClone(object), rv: at })
    for (const w of watchers) {
      if (w.collection === collection && !w.res.writableEnded && (w.name === undefined || w.name === object.metadata.name)) {
        w.res.write(JSON.stringify({ type, object }) + '\n')
      }
    }
  }
  const write = (collection: string, object: Obj, type: 'ADDED' | 'MODIFIED'): Obj => {
    const stored = structuredClone(object)
    stored.metadata = { ...stored.metadata, resourceVersion: String(++rv) }
    stored.metadata.uid ??= `uid-${rv}`
    bucket(collection).set(stored.metadata.name, stored)
    notify(collection, type, stored, rv)
    return structuredClone(stored)
  }

  const app = Fastify({ logger: false })
  app.addContentTypeParser(['application/json-patch+json', 'application/merge-patch+json'], { parseAs: 'string' }, (_req, body, done) => {
    try {
      done(null, JSON.parse(body as string))
    } catch (err) {
      done(err as Error, undefined)
    }
  })
  app.addHook('onRequest', async (request, reply) => {
    requests.push({ method: request.method, url: request.url, contentType: request.headers['content-type'], at: Date.now() })
    const index = failures.findIndex(f => f.method === request.method && request.url.startsWith(f.urlPrefix))
    if (index >= 0) {
      const [failure] = failures.splice(index, 1)
      return await reply.code(failure?.status ?? 500).send(status(failure?.status ?? 500, 'InternalError', 'injected failure'))
    }
  })

  // Lists and watches of a collection.
  const listOrWatch = (collection: (params: Obj) => string) => async (request: any, reply: any): Promise<Obj | undefined> => {
    const path = collection(request.params)
    const query = request.query as Obj
    const fieldName = typeof query.fieldSelector === 'string' ? /^metadata\.name=(.+)$/.exec(query.fieldSelector)?.[1] : undefined
    if (query.watch !== 'true') {
      const all = [...bucket(path).values()].filter(o => fieldName === undefined || o.metadata.name === fieldName)
      const resource = path.split('/').at(-1) ?? ''
      // Pagination (limit/continue); the continue token is simply the next offset here.
      const offset = Number(query.continue ?? 0)
      const limit = query.limit === undefined ? all.length : Number(query.limit)
      const items = all.slice(offset, offset + limit)
      const more = offset + limit < all.length
      return { kind: listKinds[resource], apiVersion: 'v1', metadata: { resourceVersion: String(rv), ...(more ? { continue: String(offset + limit) } : {}) }, items }
    }
    reply.hijack()
    const res = reply.raw as ServerResponse
    res.writeHead(200, { 'content-type': 'application/json' })
    res.flushHeaders()
    const from = Number(query.resourceVersion ?? 0)
    if (from < compactedRv) {
      res.end(JSON.stringify({ type: 'ERROR', object: status(410, 'Expired', `too old resource version: ${from} (${compactedRv})`) }) + '\n')
      return undefined
    }
    for (const e of events) {
      if (e.collection === path && e.rv > from && (fieldName === undefined || e.object.metadata.name === fieldName)) {
        res.write(JSON.stringify({ type: e.type, object: e.object }) + '\n')
      }
    }
    const watcher = { collection: path, name: fieldName, res }
    watchers.add(watcher)
    res.on('close', () => { watchers.delete(watcher) })
    return undefined
  }

  const secrets = (p: Obj): string => collections.secrets(p.ns)
  app.get('/api/v1/namespaces/:ns/secrets', listOrWatch(secrets))
  app.get('/api/v1/namespaces/:ns/secrets/:name', async (request: any, reply) => {
    const found = bucket(secrets(request.params)).get(request.params.name)
    return found ?? await reply.code(404).send(status(404, 'NotFound', `secrets "${String(request.params.name)}" not found`))
  })
  app.post('/api/v1/namespaces/:ns/secrets', async (request: any, reply) => {
    const body = request.body as Obj
    if (bucket(secrets(request.params)).has(body.metadata.name)) {
      return await reply.code(409).send(status(409, 'AlreadyExists', `secrets "${String(body.metadata.name)}" already exists`))
    }
    return await reply.code(201).send(write(secrets(request.params), body, 'ADDED'))
  })
  app.put('/api/v1/namespaces/:ns/secrets/:name', async (request: any, reply) => {
    const body = request.body as Obj
    const current = bucket(secrets(request.params)).get(request.params.name)
    if (current === undefined) return await reply.code(404).send(status(404, 'NotFound', 'not found'))
    if (body.metadata?.resourceVersion !== current.metadata.resourceVersion) {
      return await reply.code(409).send(status(409, 'Conflict', 'the object has been modified; please apply your changes to the latest version and try again'))
    }
    return write(secrets(request.params), body, 'MODIFIED')
  })

  app.get(collections.webhooks, listOrWatch(() => collections.webhooks))
  app.get(`${collections.webhooks}/:name`, async (request: any, reply) => {
    return bucket(collections.webhooks).get(request.params.name) ?? await reply.code(404).send(status(404, 'NotFound', 'not found'))
  })
  app.patch(`${collections.webhooks}/:name`, async (request: any, reply) => {
    if (request.headers['content-type'] !== 'application/json-patch+json') return await reply.code(415).send(status(415, 'UnsupportedMediaType', 'json patch only'))
    const current = bucket(collections.webhooks).get(request.params.name)
    if (current === undefined) return await reply.code(404).send(status(404, 'NotFound', 'not found'))
    let patched: Obj
    try {
      patched = jsonPatch.applyPatch(structuredClone(current), request.body as Operation[], true).newDocument
    } catch (err) {
      return await reply.code(422).send(status(422, 'Invalid', (err as Error).message))
    }
    return write(collections.webhooks, patched, 'MODIFIED')
  })

  app.get(collections.nodes, listOrWatch(() => collections.nodes))

  await app.listen({ host: '127.0.0.1', port: 0 })
  const address = app.server.address()
  const port = typeof address === 'object' && address !== null ? address.port : 0
  const kubeConfig = new KubeConfig()
  kubeConfig.loadFromOptions({
    clusters: [{ name: 'fake', server: `http://127.0.0.1:${port}`, skipTLSVerify: true }],
    users: [{ name: 'fake' }],
    contexts: [{ name: 'fake', cluster: 'fake', user: 'fake' }],
    currentContext: 'fake'
  })

  return {
    app,
    kubeConfig,
    requests,
    get: (collection, name) => {
      const found = bucket(collection).get(name)
      return found === undefined ? undefined : structuredClone(found)
    },
    put: (collection, object) => write(collection, object, bucket(collection).has(object.metadata.name) ? 'MODIFIED' : 'ADDED'),
    remove: (collection, name) => {
      const found = bucket(collection).get(name)
      if (found === undefined) return
      bucket(collection).delete(name)
      notify(collection, 'DELETED', { ...found, metadata: { ...found.metadata, resourceVersion: String(++rv) } }, rv)
    },
    closeWatches: () => {
      for (const w of watchers) {
        watchers.delete(w)
        w.res.end()
      }
    },
    compact: () => { compactedRv = rv },
    failNext: (method, urlPrefix, code) => { failures.push({ method, urlPrefix, status: code }) },
    openWatches: () => watchers.size,
    close: async () => {
      for (const w of watchers) w.res.destroy()
      await app.close()
    }
  }
}

/** Polls `condition` every 10 ms until it holds, failing after `timeoutMs`. */
export async function eventually (condition: () => boolean | Promise<boolean>, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 10))
  }
}
