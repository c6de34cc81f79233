// `sidecar-injector explain`: why each workload does (not) get a sidecar, and with which settings.
import { stringify } from 'yaml'
import { explainManifests, formatExplanation } from '../workloads/explain.js'
import type { CliCommand } from './io.js'
import { readManifestRequest, usageOf } from './workload-input.js'

const usage = usageOf('explain', 'For each workload: the decision, the rule that made it (webhook selectors, label, annotation,\nnever/always selector, policy, hostNetwork, ignored namespace, already injected) and the\neffective settings after annotations. -o text (default), json or yaml.', ['text', 'json', 'yaml'])

export const run: CliCommand = async (args, io) => {
  const request = await readManifestRequest(args, io, usage, { outputs: ['text', 'json', 'yaml'] })
  if (request === undefined) return 0
  const result = explainManifests(request.sources, request.options)
  if (request.format === 'json') io.stdout(`${JSON.stringify(result.explanations, null, 2)}\n`)
  else if (request.format === 'yaml') io.stdout(stringify(result.explanations))
  else io.stdout(result.explanations.map(formatExplanation).join('\n'))
  for (const error of result.errors) io.stderr(`error: ${error}\n`)
  if (result.explanations.length === 0 && result.errors.length === 0) io.stderr('note: no workload with a pod template in the input\n')
  return result.errors.length > 0 ? 1 : 0
}
