// The webhook under test, run exactly as a user runs it: `sidecar-injector certs` for 127.0.0.1,
// then `sidecar-injector serve` from the built dist/ (npm run build), as a child process.
import { execFile } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { httpsGet } from './https.js'
import type { ManagedProcess } from './processes.js'
import { freePort, startProcess, waitFor } from './processes.js'
import { cliPath } from './repo.js'

const run = promisify(execFile)

export interface WebhookCerts { dir: string, caPem: string, certFile: string, keyFile: string }

export interface LocalWebhook {
  readonly port: number
  /** https://127.0.0.1:<port>/inject — what the MutatingWebhookConfiguration's clientConfig.url points at. */
  readonly url: string
  /** http://127.0.0.1:<metrics port>/metrics — the plain-HTTP metrics listener (serve --metrics-port). */
  readonly metricsUrl: string
  readonly logFile: string
  readonly process: ManagedProcess
  stop: () => Promise<void>
}

function requireBuiltCli (): void {
  if (!existsSync(cliPath)) throw new Error(`${cliPath} is missing: run \`npm run build\` first (make e2e does)`)
}

export async function generateWebhookCerts (dir: string): Promise<WebhookCerts> {
  requireBuiltCli()
  await run(process.execPath, [cliPath, 'certs', '--out', dir, '--ip', '127.0.0.1', '--dns', 'localhost', '--force'])
  return {
    dir,
    caPem: readFileSync(join(dir, 'ca.crt'), 'utf8'),
    certFile: join(dir, 'tls.crt'),
    keyFile: join(dir, 'tls.key')
  }
}

/** Starts `sidecar-injector serve` on a free loopback port and waits for GET /readyz = 200. */
export async function startWebhook (options: { certs: WebhookCerts, logFile: string, configFile?: string, port?: number }): Promise<LocalWebhook> {
  requireBuiltCli()
  const port = options.port ?? await freePort()
  const metricsPort = await freePort()
  // Loopback only; a short drain so that stopping it (the "webhook down" cases, teardown) is quick.
  const args = [cliPath, 'serve', '--host', '127.0.0.1', '--port', String(port), '--metrics-port', String(metricsPort), '--drain-seconds', '1',
    '--tls-cert-file', options.certs.certFile, '--tls-private-key-file', options.certs.keyFile, '--log-level', 'info']
  if (options.configFile !== undefined) args.push('--config', options.configFile)
  const child = startProcess('sidecar-injector serve', process.execPath, args, options.logFile)
  await waitFor('the webhook /readyz', async () => {
    const res = await httpsGet(`https://127.0.0.1:${port}/readyz`, { ca: options.certs.caPem })
    return res.status === 200 ? true : undefined
  }, 30_000, () => child.child.exitCode !== null ? `the webhook exited (${String(child.child.exitCode)}):\n${child.tail()}` : undefined)
  return { port, url: `https://127.0.0.1:${port}/inject`, metricsUrl: `http://127.0.0.1:${metricsPort}/metrics`, logFile: options.logFile, process: child, stop: async () => { await child.stop() } }
}
