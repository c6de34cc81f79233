// Our webhook as the API server meets it, for the conformance harness: the real server
// (src/http/server.ts) on 127.0.0.1 over TLS with a test CA, an AdmissionReview POSTed to /inject and
// its answer read back, as Istio's webhook is asked through the oracle's server.
import { Agent, request } from 'node:https'
import { Registry } from 'prom-client'
import { createMetrics } from '../../../src/http/metrics.js'
import { buildServer } from '../../../src/http/server.js'
import type { InjectorConfig } from '../../../src/core/types.js'
import { createTestCa, issueTestServing } from '../../helpers/certificates.js'
import { captureLogs } from '../../helpers/webhook.js'

export interface AdmissionAnswer { allowed: boolean, patch?: string, status?: { message?: string } }

export interface OurWebhook {
  review: (review: unknown) => Promise<AdmissionAnswer>
  stop: () => Promise<void>
}

const servername = 'sidecar-injector.sidecar-injector.svc'

export async function startOurWebhook (config: InjectorConfig): Promise<OurWebhook> {
  const ca = await createTestCa()
  const serving = await issueTestServing(ca)
  // The log is kept in memory and dropped: the answers are what is compared.
  const server = buildServer({
    logger: captureLogs('warn').logger,
    config: () => config,
    metrics: createMetrics(new Registry(), { defaultMetrics: false }),
    tls: serving
  })
  await server.app.listen({ port: 0, host: '127.0.0.1' })
  const address = server.app.server.address()
  if (typeof address !== 'object' || address === null) throw new Error('our webhook is not listening')
  // Kept-alive connections, as the API server's client keeps them.
  const agent = new Agent({ keepAlive: true, maxSockets: 1, ca: ca.cert, servername })
  const post = async (body: string): Promise<{ status: number, text: string }> => await new Promise((resolve, reject) => {
    const req = request({
      host: '127.0.0.1',
      port: address.port,
      path: '/inject?timeout=10s',
      method: 'POST',
      agent,
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }
    }, res => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => { resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }) })
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end(body)
  })
  return {
    async review (review) {
      const { status, text } = await post(JSON.stringify(review))
      if (status !== 200) throw new Error(`our webhook answered HTTP ${status}: ${text.slice(0, 500)}`)
      return (JSON.parse(text) as { response: AdmissionAnswer }).response
    },
    async stop () {
      agent.destroy()
      await server.app.close()
    }
  }
}
