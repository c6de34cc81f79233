// Structured annotation values (JSON, or YAML for proxy.istio.io/config) parsed with bounds, since a
// pod author writes them: a size cap, a depth cap and linear time. The API server limits all of a
// pod's annotations together to 256 KiB (TotalAnnotationSizeLimitB,
// https://github.com/kubernetes/apimachinery/blob/master/pkg/api/validation/objectmeta.go), but a
// mutating webhook sees the pod before that check, so larger values reach us and are refused here.
// The `yaml` package's duplicate-key check compares every key with every other (quadratic: a map of
// 40,000 keys blocked the event loop for 12 s), so it is turned off: a repeated key takes the last
// value, as in Istio (sigs.k8s.io/yaml) and in JSON.parse. V8's JSON.parse is iterative, but recursive
// walks (JSON.stringify, clones, diffs) overflow the stack from ~10,000 levels, hence the depth cap.
import { isMap, isSeq, parseDocument } from 'yaml'
import type { Tags, Node as YamlNode } from 'yaml'

/** The API server's limit for all annotations of an object together, in bytes. */
export const maxAnnotationBytes = 256 * 1024

/** How deep a parsed annotation value may nest; Istio's largest documents (ProxyConfig) are ~6 deep. */
export const maxAnnotationDepth = 32

export type AnnotationValue =
  | { ok: true, value: unknown }
  | { ok: false, reason: string }

/** JSON.parse with the size and depth caps. */
export function parseJsonAnnotation (text: string): AnnotationValue {
  const size = checkSize(text)
  if (size !== undefined) return size
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    return { ok: false, reason: 'not valid JSON' }
  }
  return checkDepth(value)
}

/**
 * The YAML 1.1 tags go-yaml v2 resolves when decoding into untyped values: not sexagesimal numbers
 * (`1:20`) nor timestamps, which stay strings there.
 */
function goYamlTags (tags: Tags): Tags {
  return tags.filter(t => typeof t === 'string' ? !['intTime', 'floatTime', 'timestamp'].includes(t) : t.format !== 'TIME' && t.tag !== 'tag:yaml.org,2002:timestamp')
}

/**
 * YAML (JSON first, which is both faster and linear) with the size and depth caps. YAML 1.1, as Istio
 * reads proxy.istio.io/config (sigs.k8s.io/yaml, go-yaml v2): `yes`, `on` are booleans, `0x10` a number.
 */
export function parseYamlAnnotation (text: string): AnnotationValue {
  const size = checkSize(text)
  if (size !== undefined) return size
  try {
    return checkDepth(JSON.parse(text))
  } catch {
    // not JSON: YAML below
  }
  try {
    const doc = parseDocument(text, { uniqueKeys: false, prettyErrors: false, version: '1.1', customTags: goYamlTags })
    const error = doc.errors[0]
    if (error !== undefined) return { ok: false, reason: `not valid YAML or JSON: ${firstLine(error.message)}` }
    const nested = checkNodes(doc.contents)
    if (nested !== undefined) return { ok: false, reason: nested }
    return checkDepth(doc.toJS({ maxAliasCount: 100 }))
  } catch (err) {
    // Only a stack overflow (nesting beyond what the parser can hold) or an alias bomb get here.
    return { ok: false, reason: err instanceof RangeError ? `nests deeper than ${maxAnnotationDepth} levels` : `not valid YAML or JSON: ${firstLine((err as Error).message)}` }
  }
}

function firstLine (message: string): string {
  return (message.split('\n')[0] ?? '').slice(0, 200)
}

function checkSize (text: string): AnnotationValue | undefined {
  // Strings of more than maxAnnotationBytes UTF-16 units are over the byte limit too.
  if (text.length > maxAnnotationBytes || Buffer.byteLength(text) > maxAnnotationBytes) {
    return { ok: false, reason: `is larger than ${maxAnnotationBytes / 1024} KiB, the API server's limit for all annotations together` }
  }
  return undefined
}

function checkDepth (value: unknown): AnnotationValue {
  if (typeof value === 'object' && value !== null && exceedsDepth(value, maxAnnotationDepth)) {
    return { ok: false, reason: `nests deeper than ${maxAnnotationDepth} levels` }
  }
  return { ok: true, value }
}

/** The depth of the YAML tree, found in one iterative pass before it is turned into objects. */
function checkNodes (root: unknown): string | undefined {
  const nodes: unknown[] = [root]
  const depths: number[] = [1]
  while (nodes.length > 0) {
    const node = nodes.pop() as YamlNode | null
    const depth = depths.pop() as number
    if (depth > maxAnnotationDepth) return `nests deeper than ${maxAnnotationDepth} levels`
    if (isMap(node)) {
      for (const pair of node.items) {
        // A list or map as a key has no JSON form (Istio's YAML-to-JSON step refuses it too).
        if (isMap(pair.key) || isSeq(pair.key)) return 'has a key that is a list or a map'
        nodes.push(pair.value)
        depths.push(depth + 1)
      }
    } else if (isSeq(node)) {
      for (const item of node.items) {
        nodes.push(item)
        depths.push(depth + 1)
      }
    }
  }
  return undefined
}

/**
 * Whether `root` has a container nested more than `limit` levels deep; iterative, stops early.
 * Two parallel stacks and for…in: no tuple or Object.values array per node, which made this 18 % of
 * the server's CPU on 200 KB reviews (BENCHMARKS.md, finding 1). JSON.parse objects have no
 * inherited enumerable keys, so for…in visits exactly their own.
 */
export function exceedsDepth (root: object, limit: number): boolean {
  const nodes: object[] = [root]
  const depths: number[] = [1]
  while (nodes.length > 0) {
    const node = nodes.pop() as Record<string, unknown>
    const depth = depths.pop() as number
    if (depth > limit) return true
    for (const key in node) {
      const child = node[key]
      if (typeof child === 'object' && child !== null) {
        nodes.push(child)
        depths.push(depth + 1)
      }
    }
  }
  return false
}
