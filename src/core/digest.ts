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

/**
 * JSON with object keys sorted, so that equal values hash equally whatever their key order. One
 * string built in place, keys sorted only when they are not already, their quoted forms remembered:
 * it runs on every injection, webhook and CLI (the whole injected proxy container), where the entries/filter/sort/
 * map/join form cost 31 µs of the core's 85 µs on the 5 KiB pod, this one 19 (BENCHMARKS.md, issue 16).
 */
export function canonicalJson (value: unknown): string {
  if (typeof value !== 'object' || value === null) return JSON.stringify(value) ?? 'null'
  if (Array.isArray(value)) {
    let out = '['
    for (let i = 0; i < value.length; i++) out += (i === 0 ? '' : ',') + canonicalJson(value[i])
    return `${out}]`
  }
  const record = value as Record<string, unknown>
  const keys = Object.keys(record)
  // Default sort: UTF-16 code unit order, the same as `<`.
  for (let i = 1; i < keys.length; i++) {
    if ((keys[i - 1] as string) > (keys[i] as string)) {
      keys.sort()
      break
    }
  }
  let out = '{'
  for (const key of keys) {
    const v = record[key]
    if (v === undefined) continue
    out += `${out.length === 1 ? '' : ','}${quoted(key)}:${canonicalJson(v)}`
  }
  return `${out}}`
}

/** Field names repeat on every pod (name, value, env, …): quoted once. Bounded: pods bring keys of their own. */
const quotedKeys = new Map<string, string>()
function quoted (key: string): string {
  let text = quotedKeys.get(key)
  if (text === undefined) {
    text = JSON.stringify(key)
    if (quotedKeys.size < 1024) quotedKeys.set(key, text)
  }
  return text
}
