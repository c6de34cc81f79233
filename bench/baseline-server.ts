// The baseline for the admission benchmark: the same fastify over the same TLS, with the webhook's
// transport settings (keep-alive and request timeouts, body limit, ALPN http/1.1, JSON-only body
// parsing), answering every POST /inject with one constant AdmissionReview. What our server costs
// beyond it is the admission work itself: checking the review, the core, the patch, logging, metrics.
//
//   node dist-bench/bench/baseline-server.js --port N --cert tls.crt --key tls.key --response response.json
import { readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import Fastify from 'fastify'
import { bodyLimitBytes, defaultTimeouts } from '../src/http/server.js'

const { values } = parseArgs({
  options: {
    port: { type: 'string' },
    host: { type: 'string', default: '127.0.0.1' },
    cert: { type: 'string' },
    key: { type: 'string' },
    response: { type: 'string' }
  }
})
if (values.port === undefined || values.cert === undefined || values.key === undefined || values.response === undefined) {
  process.stderr.write('usage: baseline-server --port N --cert FILE --key FILE --response FILE\n')
  process.exit(2)
}

// Parsed once: fastify serialises it per reply, as it does the real server's response object.
const answer = JSON.parse(readFileSync(values.response, 'utf8')) as unknown
const nodeServerOptions = {
  headersTimeout: defaultTimeouts.headersTimeoutMs,
  requestTimeout: defaultTimeouts.requestTimeoutMs,
  connectionsCheckingInterval: defaultTimeouts.connectionsCheckingIntervalMs
}
const app = Fastify({
  logger: false,
  bodyLimit: bodyLimitBytes,
  keepAliveTimeout: defaultTimeouts.keepAliveTimeoutMs,
  requestTimeout: defaultTimeouts.requestTimeoutMs,
  forceCloseConnections: 'idle',
  https: {
    ...nodeServerOptions,
    minVersion: 'TLSv1.2',
    key: readFileSync(values.key),
    cert: readFileSync(values.cert),
    ALPNProtocols: ['http/1.1']
  }
})
app.removeContentTypeParser('text/plain')
// The body is parsed (fastify's JSON parser runs, as for the real server) and then ignored.
app.post('/inject', async () => answer)
app.get('/readyz', async () => 'ready\n')

process.on('SIGTERM', () => { app.close().then(() => process.exit(0), () => process.exit(1)) })
await app.listen({ port: Number(values.port), host: values.host })
