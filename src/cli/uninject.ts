// `sidecar-injector uninject`: removes exactly what the status annotation says was injected.
import { transformManifests } from '../workloads/transform.js'
import type { CliCommand } from './io.js'
import { readManifestRequest, usageOf } from './workload-input.js'

const usage = usageOf('uninject', 'Removes what sidecar.istio.io/status says was injected and restores rewritten probes and\nchanged labels and annotations; uninject(inject(x)) == x. Other objects pass through unchanged.', ['yaml', 'json'], false)

export const run: CliCommand = async (args, io) => {
  const request = await readManifestRequest(args, io, usage, { injectionFlags: false })
  if (request === undefined) return 0
  const result = transformManifests(request.sources, 'uninject', request.options)
  if (result.errors.length > 0) {
    for (const error of result.errors) io.stderr(`error: ${error}\n`)
    return 1
  }
  for (const note of result.notes) io.stderr(`${note}\n`)
  if (result.output === '') io.stderr('note: no Kubernetes object in the input\n')
  io.stdout(result.output)
  return 0
}
