// `sidecar-injector manifests` output passes the real API server's validation: the static-certificate
// install (caBundle in every entry, Secret-mounted certificate) in another namespace, server-side dry-run.
import { spawn } from 'node:child_process'
import { Readable } from 'node:stream'
import t from 'tap'
import { parseAllDocuments } from 'yaml'
import type { CliIo } from '../../src/cli/io.js'
import { run as renderManifests } from '../../src/cli/manifests.js'
import { createCertificateAuthority } from '../../src/tls/certificates.js'
import { connectCluster } from './lib/cluster.js'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

t.test('the static-certificate rendering, through server-side dry-run', async t => {
  const cluster = await connectCluster({ teardown: fn => { t.teardown(fn) }, failed: () => !t.passing() })
  const namespace = `e2e-static-${cluster.runId}`
  const dir = mkdtempSync(join(tmpdir(), 'manifests-static-'))
  const ca = await createCertificateAuthority({ now: new Date(), validityMs: 86_400_000 })
  writeFileSync(join(dir, 'ca.crt'), ca.cert)
  let rendered = ''
  const io: CliIo = { stdout: s => { rendered += s }, stderr: () => {}, env: {}, stdin: Readable.from([]), cwd: dir }
  t.equal(await renderManifests(['--namespace', namespace, '--ca-bundle-file', 'ca.crt', '--image', 'registry.example/injector:test'], io), 0, 'rendered')
  const objects = parseAllDocuments(rendered).map(d => d.toJS() as { kind: string })
  // A dry-run Namespace is not stored: create it for real so the namespaced objects can be checked.
  await cluster.core.createNamespace({ body: { metadata: { name: namespace } } })
  t.teardown(async () => { await cluster.core.deleteNamespace({ name: namespace }).catch(() => {}) })

  const child = spawn(cluster.kubectl, ['--kubeconfig', cluster.kubeconfigPath, 'apply', '--dry-run=server', '-f', '-'], { stdio: ['pipe', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', chunk => { stdout += String(chunk) })
  child.stderr.on('data', chunk => { stderr += String(chunk) })
  child.stdin.end(rendered)
  const code = await new Promise<number | null>(resolve => child.on('close', resolve))
  t.equal(code, 0, 'kubectl apply succeeded', { stderr })
  const applied = stdout.trim().split('\n').filter(l => l !== '')
  t.equal(applied.length, objects.length, 'every object was accepted', { stdout })
  t.ok(applied.every(l => l.endsWith('(server dry run)')), 'by the server, in dry-run', { stdout })
  t.ok(objects.some(o => o.kind === 'MutatingWebhookConfiguration') && !objects.some(o => o.kind === 'Role'), 'the static install: a webhook configuration, no Secret access')
})
