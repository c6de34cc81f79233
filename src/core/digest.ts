// The injection digest recorded in the status annotation: a short hash of exactly what inject() added
// or changed (the injected containers and volumes, and the labels and annotations it set). It is
// computed on the core's own output, before the API server defaults fields or admission plugins add
// mounts, so that `audit` compares today's injection with the recorded one without guessing which
// differences are the API server's. Config, images and per-pod overrides all show up in that output.
import { createHash } from 'node:crypto'
import type { Pod } from './types.js'

/** The parts of the status annotation the digest needs: what was injected, by name. */
export interface InjectedParts {
  initContainers: string[] | null
  containers: string[] | null
  volumes: string[]
  restore?: { labels?: Record<string, string | null>, annotations?: Record<string, string | null> }
}

/** Hex characters kept: 64 bits tell configurations apart; the annotation stays short. */
const digestLength = 16

export function digestInjection (pod: Pod, parts: InjectedParts, excludeAnnotations: readonly string[] = []): string {
  const spec = pod.spec
  const named = <T extends { name: string }>(names: string[] | null, list: T[] | undefined): T[] =>
    (list ?? []).filter(item => (names ?? []).includes(item.name))
  const values = (current: Record<string, string> | undefined, keys: Record<string, unknown> | undefined): Record<string, string | null> =>
    Object.fromEntries(Object.keys(keys ?? {}).filter(k => !excludeAnnotations.includes(k)).map(k => [k, current?.[k] ?? null]))
  const subject = {
    containers: named(parts.containers, spec?.containers),
    initContainers: named(parts.initContainers, spec?.initContainers),
    volumes: named(parts.volumes, spec?.volumes),
    labels: values(pod.metadata?.labels, parts.restore?.labels),
    annotations: values(pod.metadata?.annotations, parts.restore?.annotations)
  }
  return createHash('sha256').update(canonicalJson(subject)).digest('hex').slice(0, digestLength)
}

/** JSON with object keys sorted, so that equal values hash equally whatever their key order. */
export function canonicalJson (value: unknown): string {
  // Built by appending (no entries arrays, no joins): it runs on every injection (bench/cli.ts split).
  if (typeof value !== 'object' || value === null) return JSON.stringify(value) ?? 'null'
  if (Array.isArray(value)) {
    let out = '['
    for (let i = 0; i < value.length; i++) out += (i === 0 ? '' : ',') + canonicalJson(value[i])
    return `${out}]`
  }
  const record = value as Record<string, unknown>
  // The default sort compares UTF-16 code units, as `<` does on strings.
  const keys = Object.keys(record).sort()
  let out = '{'
  for (const key of keys) {
    const item = record[key]
    if (item === undefined) continue
    out += `${out.length === 1 ? '' : ','}${JSON.stringify(key)}:${canonicalJson(item)}`
  }
  return `${out}}`
}
