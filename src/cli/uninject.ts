// `sidecar-injector uninject`: removes exactly what the status annotation says was injected.
import { streamManifests } from '../workloads/transform.js'
import type { CliCommand } from './io.js'
import { pendingOutputOf } from './output.js'
import { readManifestRequest, usageOf } from './workload-input.js'

const usage = usageOf('uninject', 'Removes what sidecar.istio.io/status says was injected and restores rewritten probes and\nchanged labels and annotations; uninject(inject(x)) == x. Other objects pass through unchanged.', ['yaml', 'json'], false)

export const run: CliCommand = async (args, io) => {
  const request = await readManifestRequest(args, io, usage, { injectionFlags: false })
  if (request === undefined) return 0
  const { output, result } = pendingOutputOf(write => streamManifests(request.sources, 'uninject', request.options, write))
  if (result.errors.length > 0) {
    output.discard()
    for (const error of result.errors) io.stderr(`error: ${error}\n`)
    return 1
  }
  for (const note of result.notes) io.stderr(`${note}\n`)
  if (output.empty) io.stderr('note: no Kubernetes object in the input\n')
  await output.commit(io)
  return 0
}
