// The Bookinfo-like pods of examples/ (the inputs, not the injected outputs next to them), so that
// `make demo` shows the same pods the README and `sidecar-injector inject` use.
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join, relative } from 'node:path'
import type { V1Pod } from '@kubernetes/client-node'
import { parseAllDocuments } from 'yaml'
import { repoRoot } from './repo.js'

function yamlFiles (dir: string): string[] {
  let entries: string[]
  try {
    entries = readdirSync(dir).sort()
  } catch {
    return []
  }
  return entries.flatMap(entry => {
    const path = join(dir, entry)
    if (statSync(path).isDirectory()) return yamlFiles(path)
    return /\.ya?ml$/.test(entry) ? [path] : []
  })
}

/** Pods found under examples/ outside any path naming "inject" (those are outputs); undefined when none. */
export function examplePods (dir = join(repoRoot, 'examples')): { pods: V1Pod[], source: string } | undefined {
  const files = yamlFiles(dir).filter(path => !/inject/i.test(relative(dir, path)))
  const found = files.map(path => ({
    path,
    pods: parseAllDocuments(readFileSync(path, 'utf8'))
      .map(doc => doc.toJS() as V1Pod | null)
      .filter((doc): doc is V1Pod => doc?.kind === 'Pod')
  })).filter(f => f.pods.length > 0)
  const pods = found.flatMap(f => f.pods)
  return pods.length === 0 ? undefined : { pods, source: found.map(f => relative(repoRoot, f.path)).join(', ') }
}
