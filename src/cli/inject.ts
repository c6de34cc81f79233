// `sidecar-injector inject`: offline injection of manifests, the same answer the webhook gives.
import { streamManifests } from '../workloads/transform.js'
import type { CliCommand } from './io.js'
import { pendingOutputOf } from './output.js'
import { readManifestRequest, usageOf } from './workload-input.js'

const usage = usageOf('inject', 'Injects the sidecar into the pod templates of Pods, Deployments, StatefulSets, DaemonSets,\nReplicaSets, ReplicationControllers, Jobs and CronJobs; other objects pass through unchanged.\nSkipped workloads are printed unchanged, with the reason on stderr.')

export const run: CliCommand = async (args, io) => {
  const request = await readManifestRequest(args, io, usage)
  if (request === undefined) return 0
  const { output, result } = pendingOutputOf(write => streamManifests(request.sources, 'inject', request.options, write))
  for (const note of result.notes) io.stderr(`${note}\n`)
  if (result.errors.length > 0) {
    output.discard()
    for (const error of result.errors) io.stderr(`error: ${error}\n`)
    return 1
  }
  if (output.empty) io.stderr('note: no Kubernetes object in the input\n')
  await output.commit(io)
  return 0
}
