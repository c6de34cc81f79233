// `sidecar-injector manifests`: the flags of the install renderer (src/install/render.ts), whose
// output is one pipe into `kubectl apply -f -`.
import { readFile } from 'node:fs/promises'
import { resolve } from 'node:path'
import type { CliCommand } from './io.js'
import { parseFlags, UsageError } from './io.js'
import { formatManifests, isNamespaceName, loadManifests, parseFailurePolicy, renderManifests, shippedManifestsDir } from '../install/render.js'
import type { RenderOptions } from '../install/render.js'
import { defaultNamespace, defaultTlsSecretName } from '../kube/names.js'
import { readCaBundle } from '../tls/certificates.js'

const help = `usage: sidecar-injector manifests [flags] | kubectl apply -f -

Renders the install manifests (the files of manifests/, as 'kubectl apply -k manifests/' applies them).
Without --ca-bundle-file the injector manages its own TLS in-cluster; with it, the webhook serves the
certificate of the Secret ${defaultTlsSecretName} (kubectl create secret tls) and the caBundle is rendered.

  --namespace <ns>          namespace to install into (default ${defaultNamespace})
  --image <ref>             injector image (default: the one in manifests/deployment.yaml)
  --ca-bundle-file <file>   PEM CA bundle, e.g. certs/ca.crt: render the static-certificate install
  --failure-policy <p>      Fail or Ignore (default: manifests/webhook-settings.yaml)
  --monitoring-namespace <ns>  the namespace whose pods may scrape the metrics port (NetworkPolicy;
                            default: manifests/webhook-settings.yaml, monitoring)
  --manifests-dir <dir>     read manifests from this directory (default: the shipped manifests/)
`

const flagOptions = {
  namespace: { type: 'string' },
  image: { type: 'string' },
  'ca-bundle-file': { type: 'string' },
  'failure-policy': { type: 'string' },
  'monitoring-namespace': { type: 'string' },
  'manifests-dir': { type: 'string' },
  help: { type: 'boolean', short: 'h', default: false }
} as const

export const run: CliCommand = async (args, io) => {
  const values = parseFlags(args, flagOptions)
  if (values.help) {
    io.stdout(help)
    return 0
  }
  if (values.namespace !== undefined && !isNamespaceName(values.namespace)) {
    throw new UsageError(`--namespace must be a DNS-1123 label, got '${values.namespace}'`)
  }
  const monitoringFlag = values['monitoring-namespace']
  if (monitoringFlag !== undefined && !isNamespaceName(monitoringFlag)) {
    throw new UsageError(`--monitoring-namespace must be a DNS-1123 label, got '${String(monitoringFlag).slice(0, 80)}'`)
  }
  if (values.image !== undefined && (values.image === '' || /\s/.test(values.image))) throw new UsageError(`--image is not an image reference: '${values.image}'`)
  const dir = values['manifests-dir'] === undefined ? shippedManifestsDir : resolve(io.cwd, values['manifests-dir'])
  const loaded = await loadManifests(dir)
  const failurePolicy = values['failure-policy'] === undefined ? loaded.failurePolicy : parseFailurePolicy(values['failure-policy'])
  if (failurePolicy === undefined) throw new UsageError(`--failure-policy must be Fail or Ignore, got '${values['failure-policy'] ?? ''}'`)
  const options: RenderOptions = { failurePolicy }
  if (values.namespace !== undefined) options.namespace = values.namespace
  if (values.image !== undefined) options.image = values.image
  const monitoringNamespace = monitoringFlag ?? loaded.monitoringNamespace
  if (monitoringNamespace !== undefined) options.monitoringNamespace = monitoringNamespace
  if (values['ca-bundle-file'] !== undefined) {
    const file = resolve(io.cwd, values['ca-bundle-file'])
    const bundle = readCaBundle(await readFile(file, 'utf8'))
    if (!bundle.ok) throw new UsageError(`--ca-bundle-file ${file}${bundle.problem}`)
    options.caBundle = bundle.certs.join('')
  }
  const mode = options.caBundle === undefined ? 'self-managed TLS' : `static certificate from Secret ${defaultTlsSecretName}`
  io.stdout(formatManifests(renderManifests(loaded.objects, options), `sidecar-injector manifests: ${mode}, failurePolicy ${options.failurePolicy}`))
  return 0
}
