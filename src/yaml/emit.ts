// Writes JSON values as YAML that kubectl reads back as the same values: block style for what we
// insert into block collections, flow style for what goes into flow ones, every string quoted that a
// YAML 1.1 or 1.2 reader would take for something else (src/yaml/scalars.ts).
import { formatScalar, formatString, literalBlock } from './scalars.js'

export interface BlockStyle {
  /** Spaces per nesting level of mappings. */
  indent: number
  /** Spaces between a key and the dashes of its sequence: 0 (`key:\n- a`) or `indent`. */
  seqIndent: number
  newline: '\n' | '\r\n'
}

export const defaultStyle: BlockStyle = { indent: 2, seqIndent: 2, newline: '\n' }

type Obj = Record<string, unknown>

function isObj (value: unknown): value is Obj {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** A mapping or sequence with items: these take block form; everything else is written inline. */
export function isBlock (value: unknown): boolean {
  return Array.isArray(value) ? value.length > 0 : isObj(value) && Object.keys(value).length > 0
}

/** A scalar, `{}`, `[]`, or a whole value in flow style. */
export function renderFlow (value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(renderFlow).join(', ')}]`
  if (isObj(value)) return `{${Object.entries(value).map(([k, v]) => `${flowKey(k)}: ${renderFlow(v)}`).join(', ')}}`
  return formatScalar(value, true)
}

/** A scalar, `{}` or `[]` in block context. */
export function renderInline (value: unknown): string {
  return typeof value === 'object' && value !== null ? renderFlow(value) : formatScalar(value)
}

/** A key in a flow mapping: explicit (`? key`) when too long for an implicit one. */
export function flowKey (key: string): string {
  const formatted = formatString(key, true)
  return formatted.length > 1000 ? `? ${formatted}` : formatted
}

/**
 * A non-empty mapping or sequence in block style at column `col`: every line but the first is
 * indented by `col` spaces (the caller has put the first line in place); no final line break.
 */
export function renderBlock (value: unknown, col: number, style: BlockStyle): string {
  const lines: string[] = []
  if (Array.isArray(value)) pushItems(value, col, style, lines)
  else pushPairs(value as Obj, col, style, lines)
  return lines.join(style.newline).slice(col)
}

/** `key: value` at column `col` (the first line unindented, as in renderBlock). */
export function renderPair (key: string, value: unknown, col: number, style: BlockStyle): string {
  const lines: string[] = []
  pushPairs({ [key]: value }, col, style, lines)
  return lines.join(style.newline).slice(col)
}

/** `- value` at column `col` (the first line unindented, as in renderBlock). */
export function renderItem (value: unknown, col: number, style: BlockStyle): string {
  const lines: string[] = []
  pushItems([value], col, style, lines)
  return lines.join(style.newline).slice(col)
}

/** A whole document in block style, ending with a line break. */
export function renderDocument (value: unknown, style: BlockStyle = defaultStyle): string {
  return `${isBlock(value) ? renderBlock(value, 0, style) : renderInline(value)}${style.newline}`
}

function pushPairs (map: Obj, col: number, style: BlockStyle, lines: string[]): void {
  const pad = ' '.repeat(col)
  for (const [key, value] of Object.entries(map)) {
    const formatted = formatString(key)
    // An implicit key ends within 1024 characters (YAML 1.2 §7.4.2, and go-yaml's simple keys); a longer one is explicit.
    if (formatted.length > 1000) lines.push(`${pad}? ${formatted}`)
    const head = formatted.length > 1000 ? `${pad}:` : `${pad}${formatted}:`
    if (typeof value === 'string' && literalBlock(value)) pushLiteral(head, value, col + style.indent, lines)
    else if (!isBlock(value)) lines.push(`${head} ${renderInline(value)}`)
    else if (Array.isArray(value)) {
      lines.push(head)
      pushItems(value, col + style.seqIndent, style, lines)
    } else {
      lines.push(head)
      pushPairs(value as Obj, col + style.indent, style, lines)
    }
  }
}

function pushItems (items: readonly unknown[], col: number, style: BlockStyle, lines: string[]): void {
  const pad = ' '.repeat(col)
  for (const item of items) {
    if (typeof item === 'string' && literalBlock(item)) {
      pushLiteral(`${pad}-`, item, col + 2, lines)
      continue
    }
    if (!isBlock(item)) {
      lines.push(`${pad}- ${renderInline(item)}`)
      continue
    }
    const first = lines.length
    if (Array.isArray(item)) pushItems(item, col + 2, style, lines)
    else pushPairs(item as Obj, col + 2, style, lines)
    lines[first] = `${pad}- ${(lines[first] ?? '').slice(col + 2)}`
  }
}

/** `head |` (or `|-` without a final line break) and the string's lines at column `col`. */
function pushLiteral (head: string, text: string, col: number, lines: string[]): void {
  const pad = ' '.repeat(col)
  const body = text.endsWith('\n') ? text.slice(0, -1) : text
  lines.push(`${head} |${text.endsWith('\n') ? '' : '-'}`)
  for (const line of body.split('\n')) lines.push(line === '' ? '' : `${pad}${line}`)
}
