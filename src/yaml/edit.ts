// Writes a changed document by editing its text in place: only the subtrees whose value changed are
// rewritten (src/yaml/emit.ts), found through the syntax tree's source ranges; every other byte —
// comments, flow style, key order, quoting, blank lines — stays as it was. Items and keys are
// inserted after their last sibling (or before the item they precede) and removed with exactly their
// own lines, so that removing what was inserted gives back the original text.
/* eslint-disable no-control-regex -- control characters are what these patterns are about */
import { isDeepStrictEqual } from 'node:util'
import { isAlias, isMap, isPair, isScalar, isSeq } from 'yaml'
import type { Node, Pair, YAMLMap, YAMLSeq } from 'yaml'
import { flowKey, isBlock, renderBlock, renderFlow, renderInline, renderItem, renderPair } from './emit.js'
import type { BlockStyle } from './emit.js'
import { keyOf, readDocuments } from './read.js'
import type { ReadDocument } from './read.js'
import { doubleQuoted } from './scalars.js'

type Obj = Record<string, unknown>
interface Edit { start: number, end: number, text: string }
type Slot = { kind: 'root' } | { kind: 'pair', pair: Pair, map: YAMLMap } | { kind: 'item', seq: YAMLSeq }

/** The edit cannot be made in place; the caller writes the whole document instead. */
class NotInPlace extends Error {
  override name = 'NotInPlace'
}

function rangeOf (node: Node): [number, number, number] {
  if (node.range === null || node.range === undefined) throw new NotInPlace()
  return node.range
}

function isObj (value: unknown): value is Obj {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/**
 * The document's text changed so that it reads as `after` (it read as `read.value`); undefined when
 * that cannot be done in place. Edits that involve anchors, aliases, merge keys, tags or flow
 * collections are read back and compared, and given up on when they do not read as `after`.
 */
export function editDocument (text: string, read: ReadDocument, after: unknown): string | undefined {
  const root = read.document.contents as Node | null
  if (root === null || ((isMap(root) || isSeq(root)) && root.flow === true)) return undefined
  const rawEnd = read.rawStart + read.raw.length
  const editor = new Editor(text, read.rawStart, rawEnd, detectStyle(text, root, read.raw))
  try {
    editor.diff(root, read.value, after, { kind: 'root' })
  } catch (err) {
    if (err instanceof NotInPlace) return undefined
    throw err
  }
  const edited = editor.apply()
  if (edited === undefined) return undefined
  if (read.intricate || editor.flow) {
    const [back] = readDocuments(edited)
    if (back === undefined || back.error !== undefined || !isDeepStrictEqual(back.value, after)) return undefined
  }
  return edited
}

class Editor {
  readonly edits: Edit[] = []
  /** A flow collection was edited. */
  flow = false
  private readonly text: string
  private readonly rawStart: number
  private readonly rawEnd: number
  private readonly style: BlockStyle

  constructor (text: string, rawStart: number, rawEnd: number, style: BlockStyle) {
    this.text = text
    this.rawStart = rawStart
    this.rawEnd = rawEnd
    this.style = style
  }

  diff (node: Node | null, before: unknown, after: unknown, slot: Slot): void {
    if (before === after || isDeepStrictEqual(before, after)) return
    if (node !== null && !isAlias(node) && node.anchor === undefined && node.tag === undefined) {
      if (isMap(node) && isObj(before) && isObj(after)) return this.diffMap(node, before, after, slot)
      if (isSeq(node) && Array.isArray(before) && Array.isArray(after)) return this.diffSeq(node, before, after, slot)
    }
    this.replace(node, after, slot)
  }

  /** The text with every edit made, or undefined when two edits overlap. */
  apply (): string | undefined {
    const edits = this.edits.map((e, i) => ({ ...e, i })).sort((a, b) => a.start - b.start || a.i - b.i)
    let out = ''
    let at = this.rawStart
    for (const e of edits) {
      if (e.start < at) return undefined
      out += this.text.slice(at, e.start) + e.text
      at = e.end
    }
    return out + this.text.slice(at, this.rawEnd)
  }

  private diffMap (node: YAMLMap, before: Obj, after: Obj, slot: Slot): void {
    const pairs = new Map<string, Pair>()
    for (const item of node.items) {
      const key = isPair(item) ? keyOf(item.key) : undefined
      // Merge keys and duplicate keys: which pair holds a value is not one place; rewrite the mapping.
      if (key === undefined || pairs.has(key) || (isScalar(item.key) && item.key.value === '<<')) return this.replace(node, after, slot)
      pairs.set(key, item)
    }
    const removed = new Set(Object.keys(before).filter(k => !Object.hasOwn(after, k)))
    const kept = node.items.filter(p => !removed.has(keyOf(p.key) as string))
    if (kept.length === 0) return this.replace(node, after, slot)
    for (const key of removed) this.removePair(node, pairs.get(key) as Pair)
    const added: Array<[string, unknown]> = []
    for (const [key, value] of Object.entries(after)) {
      const pair = pairs.get(key)
      if (pair === undefined) added.push([key, value])
      else this.diff(pair.value as Node | null, before[key], value, { kind: 'pair', pair, map: node })
    }
    if (added.length > 0) this.appendPairs(node, kept.at(-1) as Pair, added)
  }

  private diffSeq (node: YAMLSeq, before: unknown[], after: unknown[], slot: Slot): void {
    if (after.length === 0 || node.items.length !== before.length) return this.replace(node, after, slot)
    const items = node.items as Node[]
    const itemSlot: Slot = { kind: 'item', seq: node }
    const beforeNames = names(before)
    const afterNames = names(after)
    if (beforeNames !== undefined && afterNames !== undefined) {
      // Containers and volumes: aligned by name, as the webhook's patch is (src/core/patch.ts).
      const index = new Map(beforeNames.map((name, i) => [name, i]))
      const keptBefore = beforeNames.filter(name => afterNames.includes(name))
      const keptAfter = afterNames.filter(name => index.has(name))
      if (keptBefore.length === 0 || keptBefore.some((name, i) => name !== keptAfter[i])) return this.replace(node, after, slot)
      beforeNames.forEach((name, i) => { if (!afterNames.includes(name)) this.removeItem(node, i) })
      let pending: unknown[] = []
      let last = -1
      after.forEach((item, i) => {
        const j = index.get(afterNames[i] as string)
        if (j === undefined) {
          pending.push(item)
          return
        }
        if (pending.length > 0) this.insertItems(node, j, pending)
        pending = []
        last = j
        this.diff(items[j] ?? null, before[j], item, itemSlot)
      })
      if (pending.length > 0) this.appendItems(node, last, pending)
      return
    }
    if (after.length === before.length) {
      after.forEach((item, i) => { this.diff(items[i] ?? null, before[i], item, itemSlot) })
      return
    }
    if (after.length > before.length && before.every((item, i) => isDeepStrictEqual(item, after[i]))) {
      this.appendItems(node, before.length - 1, after.slice(before.length))
      return
    }
    this.replace(node, after, slot)
  }

  private replace (node: Node | null, after: unknown, slot: Slot): void {
    if (slot.kind === 'root' || node === null) throw new NotInPlace()
    const parent = slot.kind === 'pair' ? slot.map : slot.seq
    if (parent.flow === true) {
      this.flow = true
      const quotedBefore = isScalar(node) && (node.type === 'QUOTE_DOUBLE' || node.type === 'QUOTE_SINGLE')
      this.edits.push({ start: rangeOf(node)[0], end: this.contentEnd(node), text: quotedBefore ? inlineLike(node, after) : renderFlow(after) })
      return
    }
    if (slot.kind === 'item') {
      const start = rangeOf(node)[0]
      this.edits.push({ start, end: this.contentEnd(node), text: isBlock(after) ? renderBlock(after, this.col(start), this.style) : inlineLike(node, after) })
      return
    }
    const key = slot.pair.key as Node
    const keyEnd = rangeOf(key)[1]
    const block = (isMap(node) || isSeq(node)) && node.flow !== true
    const keyCol = this.col(rangeOf(key)[0])
    const valueCol = block ? this.col(rangeOf(node)[0]) : keyCol + (Array.isArray(after) ? this.style.seqIndent : this.style.indent)
    const text = isBlock(after)
      ? `:${this.style.newline}${' '.repeat(valueCol)}${renderBlock(after, valueCol, this.style)}`
      : `: ${inlineLike(node, after)}`
    this.edits.push({ start: keyEnd, end: this.contentEnd(node), text })
  }

  private appendPairs (map: YAMLMap, last: Pair, entries: Array<[string, unknown]>): void {
    const lastEnd = this.contentEnd((last.value as Node | null) ?? (last.key as Node))
    if (map.flow === true) {
      this.flow = true
      this.edits.push({ start: lastEnd, end: lastEnd, text: entries.map(([k, v]) => `, ${flowKey(k)}: ${renderFlow(v)}`).join('') })
      return
    }
    const col = this.col(rangeOf(last.key as Node)[0])
    const at = this.lineEnd(lastEnd)
    const text = entries.map(([k, v]) => `${this.style.newline}${' '.repeat(col)}${renderPair(k, v, col, this.style)}`).join('')
    this.edits.push({ start: at, end: at, text })
  }

  private removePair (map: YAMLMap, pair: Pair): void {
    const key = pair.key as Node
    const end = this.contentEnd((pair.value as Node | null) ?? key)
    if (map.flow === true) {
      this.removeFlowItem(map.items.indexOf(pair), map.items.map(p => [rangeOf(p.key as Node)[0], this.contentEnd((p.value as Node | null) ?? (p.key as Node))]))
      return
    }
    this.removeLines(rangeOf(key)[0], end)
  }

  /** New items before the item at `index` (block: on lines of their own just above its dash). */
  private insertItems (seq: YAMLSeq, index: number, values: unknown[]): void {
    const item = seq.items[index] as Node
    if (seq.flow === true) {
      this.flow = true
      if (isPair(item)) throw new NotInPlace()
      this.edits.push({ start: rangeOf(item)[0], end: rangeOf(item)[0], text: values.map(v => `${renderFlow(v)}, `).join('') })
      return
    }
    const dash = this.dashOf(item)
    const lineStart = this.lineStart(dash)
    if (this.text.slice(lineStart, dash).trim() !== '') throw new NotInPlace()
    const col = dash - lineStart
    const text = values.map(v => `${' '.repeat(col)}${renderItem(v, col, this.style)}${this.style.newline}`).join('')
    this.edits.push({ start: lineStart, end: lineStart, text })
  }

  private appendItems (seq: YAMLSeq, lastIndex: number, values: unknown[]): void {
    const last = seq.items[lastIndex] as Node
    const lastEnd = this.contentEnd(last)
    if (seq.flow === true) {
      this.flow = true
      this.edits.push({ start: lastEnd, end: lastEnd, text: values.map(v => `, ${renderFlow(v)}`).join('') })
      return
    }
    const col = this.col(this.dashOf(last))
    const at = this.lineEnd(lastEnd)
    this.edits.push({ start: at, end: at, text: values.map(v => `${this.style.newline}${' '.repeat(col)}${renderItem(v, col, this.style)}`).join('') })
  }

  private removeItem (seq: YAMLSeq, index: number): void {
    const item = seq.items[index] as Node
    if (seq.flow === true) {
      this.removeFlowItem(index, (seq.items as Node[]).map(n => {
        if (isPair(n)) throw new NotInPlace()
        return [rangeOf(n)[0], this.contentEnd(n)]
      }))
      return
    }
    this.removeLines(this.dashOf(item), this.contentEnd(item))
  }

  /** Removes a flow item with the comma before it (or after it, for the first). */
  private removeFlowItem (index: number, spans: Array<[number, number]>): void {
    this.flow = true
    const [start, end] = spans[index] as [number, number]
    const previous = spans[index - 1]
    const next = spans[index + 1]
    if (previous !== undefined) this.edits.push({ start: previous[1], end, text: '' })
    else this.edits.push({ start, end: next !== undefined ? next[0] : end, text: '' })
  }

  /** Removes the lines from `start` (which must begin its line, after indentation) to the line holding `end`. */
  private removeLines (start: number, end: number): void {
    const lineStart = this.lineStart(start)
    if (this.text.slice(lineStart, start).trim() !== '') throw new NotInPlace()
    const lineEnd = this.lineEnd(end)
    const breakLength = this.text.startsWith('\r\n', lineEnd) ? 2 : this.text[lineEnd] === '\n' ? 1 : 0
    if (breakLength === 0 && lineStart > this.rawStart) {
      // The last line of the stream has no line break: take the one before it instead.
      const before = this.text[lineStart - 2] === '\r' ? 2 : 1
      this.edits.push({ start: lineStart - before, end: lineEnd, text: '' })
      return
    }
    this.edits.push({ start: lineStart, end: lineEnd + breakLength, text: '' })
  }

  /** Where a node's own text ends: a block collection ends with its last item; a block scalar before its last line break. */
  private contentEnd (node: Node | null): number {
    if (node === null) throw new NotInPlace()
    if ((isMap(node) || isSeq(node)) && node.flow !== true) {
      const last = node.items.at(-1)
      if (last === undefined) throw new NotInPlace()
      return isPair(last) ? this.contentEnd((last.value as Node | null) ?? (last.key as Node)) : this.contentEnd(last as Node)
    }
    const end = rangeOf(node)[1]
    if (isScalar(node) && (node.type === 'BLOCK_LITERAL' || node.type === 'BLOCK_FOLDED')) {
      if (this.text.startsWith('\r\n', end - 2)) return end - 2
      if (this.text[end - 1] === '\n') return end - 1
    }
    return end
  }

  private dashOf (item: Node): number {
    let at = rangeOf(item)[0] - 1
    while (at > this.rawStart && ' \t\r\n'.includes(this.text[at] as string)) at--
    if (this.text[at] !== '-') throw new NotInPlace()
    return at
  }

  private lineStart (at: number): number {
    return Math.max(this.text.lastIndexOf('\n', at - 1) + 1, this.rawStart)
  }

  /** The end of the line holding `at`, before its line break (after any comment). */
  private lineEnd (at: number): number {
    let end = this.text.indexOf('\n', at)
    if (end === -1 || end > this.rawEnd) end = this.rawEnd
    return this.text[end - 1] === '\r' && end > at ? end - 1 : end
  }

  private col (at: number): number {
    return at - this.lineStart(at)
  }
}

/** A scalar or empty collection in place of `node`, keeping the quoting style of a replaced string. */
function inlineLike (node: Node, after: unknown): string {
  if (typeof after === 'string' && isScalar(node) && typeof node.value === 'string') {
    if (node.type === 'QUOTE_DOUBLE') return doubleQuoted(after)
    if (node.type === 'QUOTE_SINGLE' && !/[\u0000-\u001f\u007f-\u009f\u2028\u2029\ufeff]/.test(after)) return `'${after.replaceAll("'", "''")}'`
  }
  return renderInline(after)
}

/** The names of a list of uniquely named objects (containers, volumes), else undefined. */
function names (list: readonly unknown[]): string[] | undefined {
  const out: string[] = []
  for (const item of list) {
    if (!isObj(item) || typeof item.name !== 'string' || out.includes(item.name)) return undefined
    out.push(item.name)
  }
  return out
}

/** The document's own indentation: spaces per level, and whether sequences are indented under their key. */
function detectStyle (text: string, root: Node, raw: string): BlockStyle {
  const style: BlockStyle = { indent: 2, seqIndent: 2, newline: raw.includes('\r\n') ? '\r\n' : '\n' }
  const col = (at: number): number => at - (text.lastIndexOf('\n', at - 1) + 1)
  let foundIndent = false
  let foundSeq = false
  const visit = (node: unknown, depth: number): void => {
    if (depth > 8 || (foundIndent && foundSeq) || !isMap(node) || node.flow === true) return
    for (const pair of node.items) {
      const key = pair.key as Node | null
      const value = pair.value as Node | null
      if (key === null || value === null) continue
      if (!foundIndent && isMap(value) && value.flow !== true && col(rangeOf(value)[0]) > col(rangeOf(key)[0])) {
        style.indent = col(rangeOf(value)[0]) - col(rangeOf(key)[0])
        foundIndent = true
      }
      if (!foundSeq && isSeq(value) && value.flow !== true) {
        const first = value.items[0] as Node | undefined
        const dash = first === undefined ? -1 : text.lastIndexOf('-', rangeOf(first)[0])
        if (dash >= 0) {
          style.seqIndent = Math.max(0, col(dash) - col(rangeOf(key)[0]))
          foundSeq = true
        }
      }
      visit(value, depth + 1)
    }
  }
  visit(root, 0)
  return style
}
