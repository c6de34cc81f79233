// Reads a YAML (or JSON) stream one document at a time, as kubectl would: the `yaml` package parses
// (failsafe schema: it resolves no scalar itself), and the values follow go-yaml v2 and
// sigs.k8s.io/yaml (src/yaml/scalars.ts) — YAML 1.1 plain scalars, merge keys, last duplicate key
// wins, keys as JSON strings. Documents are yielded as they are parsed, so a stream of any length
// holds one document's syntax tree at a time.
import { Composer, LineCounter, Parser, isAlias, isMap, isPair, isScalar, isSeq } from 'yaml'
import type { Document, Node, ParsedNode, Scalar, YAMLMap } from 'yaml'
import { plainKeyString, resolvePlain } from './scalars.js'

export interface ReadDocument {
  /** 1-based position in the stream. */
  index: number
  /** The document's exact text, from the end of the previous one (so that leading comments come along). */
  raw: string
  /** Where `raw` starts in the stream's text. */
  rawStart: number
  /** The syntax tree, with source ranges into the stream's text. */
  document: Document.Parsed
  /** The JSON value kubectl reads; undefined when `error` is set. */
  value: unknown
  /** Anchors, aliases, merge keys or tags: an edit of this document is checked by reading it back. */
  intricate: boolean
  /** Not valid YAML, or a value kubectl cannot turn into JSON; `line`/`col` when known. */
  error?: { message: string, line?: number, col?: number }
}

const tagPrefix = 'tag:yaml.org,2002:'
/** An alias bomb ("billion laughs") must not exhaust memory: a document expands to at most this many nodes. */
const maxNodes = 1_000_000

// What go-yaml v2's reader lets through (https://github.com/go-yaml/yaml/blob/v2.4.0/readerc.go): tab,
// line feed, carriage return, printable ASCII, NEL, and Unicode outside the surrogates, U+FFFE and U+FFFF.
const forbidden = /[^\t\n\r\u0020-\u007e\u0085\u00a0-\ud7ff\ue000-\ufffd\ud800-\udfff]/

class ValueError extends Error {
  override name = 'ValueError'
}

/** Every document of the text, in order. */
export function * readDocuments (text: string): Generator<ReadDocument> {
  const lines = new LineCounter()
  const parser = new Parser(lines.addNewLine)
  const composer = new Composer({ schema: 'failsafe' })
  // kubectl reads a stream that starts with '{' as JSON, where control characters in strings are allowed.
  const json = /^[\s\ufeff]*\{/.test(text)
  let index = 0
  let previousEnd = 0
  for (const document of composer.compose(parser.parse(text), true, text.length)) {
    index++
    const end = document.range[2]
    const raw = text.slice(previousEnd, end)
    const rawStart = previousEnd
    previousEnd = end
    const problem = document.errors[0]
    if (problem !== undefined) {
      const { line, col } = lines.linePos(problem.pos[0])
      yield { index, raw, rawStart, document, value: undefined, intricate: false, error: { message: problem.message.split('\n')[0] ?? '', line, col } }
      continue
    }
    const control = json ? null : forbidden.exec(raw)
    if (control !== null) {
      const { line, col } = lines.linePos(rawStart + control.index)
      yield { index, raw, rawStart, document, value: undefined, intricate: false, error: { message: `control character U+${(control[0].codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, '0')}: kubectl refuses control characters (write it as an escape in double quotes)`, line, col } }
      continue
    }
    const reader = new ValueReader()
    try {
      const value = reader.read(document.contents as ParsedNode | null, '')
      yield { index, raw, rawStart, document, value, intricate: reader.intricate }
    } catch (err) {
      if (!(err instanceof ValueError)) throw err
      yield { index, raw, rawStart, document, value: undefined, intricate: true, error: { message: err.message } }
    }
  }
}

/** The JSON key of a mapping key node, as sigs.k8s.io/yaml makes it; undefined when kubectl refuses the key. */
export function keyOf (key: unknown, anchors?: ReadonlyMap<string, Node>): string | undefined {
  let node = key
  if (isAlias(node)) node = anchors?.get(node.source)
  if (!isScalar(node)) return undefined
  const text = sourceOf(node)
  const tag = node.tag
  if (tag === undefined) return node.type === 'PLAIN' ? plainKeyString(text) : text
  const value = scalarOf(node, text, tag)
  return typeof value === 'string' ? value : plainKeyString(text)
}

/** The scalar's text after quoting and folding, before any tag resolution (the yaml package resolves !!binary and !!timestamp itself). */
function sourceOf (node: Scalar): string {
  return typeof node.source === 'string' ? node.source : String(node.value ?? '')
}

function scalarOf (node: Scalar, text: string, tag: string): unknown {
  switch (tag) {
    case `${tagPrefix}str`:
    case `${tagPrefix}timestamp`:
    case '!':
      return text
    case `${tagPrefix}binary`:
      return Buffer.from(text.replace(/\s+/g, ''), 'base64').toString('utf8')
    case `${tagPrefix}int`:
    case `${tagPrefix}float`:
    case `${tagPrefix}bool`:
    case `${tagPrefix}null`: {
      const value = resolvePlain(text)
      const kind = value === null ? 'null' : typeof value === 'boolean' ? 'bool' : typeof value === 'number' ? (Number.isInteger(value) && !/[.eE]/.test(text) ? 'int' : 'float') : 'str'
      const wanted = tag.slice(tagPrefix.length)
      if (kind === wanted || (wanted === 'float' && kind === 'int')) return value
      throw new ValueError(`cannot read ${kind === 'str' ? 'the string' : `the ${kind}`} '${text.slice(0, 40)}' as the ${tag.replace(tagPrefix, '!!')} its tag says`)
    }
    default:
      // Other tags (!foo, !!set…): go-yaml v2 leaves the scalar's text as it is.
      return text
  }
}

class ValueReader {
  intricate = false
  private nodes = 0
  private readonly anchors = new Map<string, Node>()

  read (node: ParsedNode | Node | null | undefined, path: string): unknown {
    if (node === null || node === undefined) return null
    if (++this.nodes > maxNodes) throw new ValueError(`${where(path)}expands to more than ${maxNodes} nodes through aliases`)
    if (isAlias(node)) {
      this.intricate = true
      const target = this.anchors.get(node.source)
      if (target === undefined) throw new ValueError(`${where(path)}the alias *${node.source} refers to no anchor before it`)
      return this.read(target, path)
    }
    if (node.anchor !== undefined) this.intricate = true
    if (node.tag !== undefined) this.intricate = true
    let value: unknown
    if (isScalar(node)) value = this.scalar(node, path)
    else if (isMap(node)) value = this.map(node, path)
    else if (isSeq(node)) value = node.items.map((item, i) => this.read(item as Node, `${path}[${i}]`))
    else value = null
    if (node.anchor !== undefined) this.anchors.set(node.anchor, node)
    return value
  }

  private scalar (node: Scalar, path: string): unknown {
    const text = sourceOf(node)
    const value = node.tag === undefined ? (node.type === 'PLAIN' ? resolvePlain(text) : text) : scalarOf(node, text, node.tag)
    if (typeof value === 'number' && !Number.isFinite(value)) throw new ValueError(`${where(path)}'${text}' has no JSON value (kubectl cannot read it)`)
    return value
  }

  private map (node: YAMLMap, path: string): Record<string, unknown> {
    const out: Record<string, unknown> = {}
    for (const pair of node.items) {
      if (!isPair(pair)) continue
      const key = pair.key as Node | null
      if (isScalar(key) && key.type === 'PLAIN' && key.tag === undefined && key.value === '<<') {
        this.intricate = true
        this.merge(out, pair.value as Node | null, path)
        continue
      }
      if (isAlias(key)) this.intricate = true
      const name = keyOf(key, this.anchors)
      if (name === undefined) {
        throw new ValueError(`${where(path)}${isScalar(key) || key === null ? 'a null key' : 'a key that is not a scalar'}: kubectl takes only string, number and boolean keys`)
      }
      if (isScalar(key) && key.anchor !== undefined) this.anchors.set(key.anchor, key)
      setKey(out, name, this.read(pair.value as Node | null, path === '' ? name : `${path}.${name}`))
    }
    return out
  }

  /** go-yaml v2: a merged mapping sets its keys over those before it; in a list of them, the first wins. */
  private merge (out: Record<string, unknown>, source: Node | null, path: string): void {
    const value = this.read(source, path)
    const maps = Array.isArray(value) ? [...value].reverse() : [value]
    for (const map of maps) {
      if (typeof map !== 'object' || map === null || Array.isArray(map)) throw new ValueError(`${where(path)}a merge key (<<) takes a mapping or a list of mappings`)
      for (const [k, v] of Object.entries(map)) setKey(out, k, v)
    }
  }
}

function setKey (out: Record<string, unknown>, key: string, value: unknown): void {
  // A key named __proto__ is data, never the object's prototype.
  if (key === '__proto__') Object.defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true })
  else out[key] = value
}

function where (path: string): string {
  return path === '' ? '' : `at ${path}: `
}
