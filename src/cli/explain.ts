// `sidecar-injector explain`: why each workload does (not) get a sidecar, and with which settings.
import { explainManifests } from '../core/manifests.js'
import type { CliCommand } from './io.js'
import { readManifestRequest, usageOf } from './manifest-input.js'

const usage = usageOf('explain', 'For each workload: the decision, the rule that made it (webhook selectors, label, annotation,\nnever/always selector, policy, hostNetwork, ignored namespace, already injected) and the\neffective settings after annotations.')

export const run: CliCommand = async (args, io) => {
  const request = await readManifestRequest(args, io, usage)
  if (request === undefined) return 0
  const result = explainManifests(request.sources, request.options)
  io.stdout(result.output)
  for (const error of result.errors) io.stderr(`error: ${error}\n`)
  return result.errors.length > 0 ? 1 : 0
}
