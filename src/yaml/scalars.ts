// Scalars as kubectl reads them, and as we write them so that kubectl reads them back the same.
//
// kubectl decodes manifests with sigs.k8s.io/yaml, which is go-yaml v2: YAML 1.1 rules for plain
// (unquoted) scalars, then JSON. That is not YAML 1.2: `0400` is the octal 256, `yes`/`on`/`n` are
// booleans, `1_000` is 1000, and a key `on:` becomes the JSON key "true". The rules below are
// go-yaml v2's resolve() (https://github.com/go-yaml/yaml/blob/v2.4.0/resolve.go) and sigs.k8s.io/yaml's
// key conversion (https://github.com/kubernetes-sigs/yaml/blob/master/yaml.go), checked against the
// real kubectl by test/yaml/kubectl-judge.test.ts. docs/cli.md, "YAML fidelity", says it in words.
/* eslint-disable no-control-regex -- control characters are what these patterns are about */

/** The JSON value of a plain scalar, or the text itself when kubectl reads it as a string. */
export type PlainValue = string | number | boolean | null

/** Spellings that go-yaml v2 looks up before trying numbers. */
const resolveMap = new Map<string, PlainValue>([
  ...['y', 'Y', 'yes', 'Yes', 'YES', 'on', 'On', 'ON', 'true', 'True', 'TRUE'].map(s => [s, true] as const),
  ...['n', 'N', 'no', 'No', 'NO', 'off', 'Off', 'OFF', 'false', 'False', 'FALSE'].map(s => [s, false] as const),
  ...['~', 'null', 'Null', 'NULL'].map(s => [s, null] as const),
  ...['.nan', '.NaN', '.NAN'].map(s => [s, Number.NaN] as const),
  ...['.inf', '.Inf', '.INF', '+.inf', '+.Inf', '+.INF'].map(s => [s, Number.POSITIVE_INFINITY] as const),
  ...['-.inf', '-.Inf', '-.INF'].map(s => [s, Number.NEGATIVE_INFINITY] as const)
])

// Go's strconv.ParseInt(s, 0, 64) syntax (after go-yaml removed every '_'): a sign, then 0x/0o/0b
// prefixes, a leading 0 for octal, or decimal digits.
const goInt = /^([-+]?)(?:0[xX]([0-9a-fA-F]+)|0[oO]([0-7]+)|0[bB]([01]+)|(0[0-7]*)|([1-9][0-9]*))$/
// go-yaml v2's yamlStyleFloat.
const goFloat = /^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$/
const int64Min = -(2n ** 63n)
const int64Max = 2n ** 63n - 1n
const uint64Max = 2n ** 64n - 1n

/**
 * What kubectl makes of a plain scalar: go-yaml v2's resolve() for an untagged plain scalar. The
 * first character decides what is tried: digits and signs are numbers, '.' a float, a few letters
 * the booleans and nulls of the table; everything else is a string. Timestamps stay strings (go-yaml
 * v2 gives interface{} targets the original text).
 */
export function resolvePlain (text: string): PlainValue {
  if (text === '') return null
  const first = text.charCodeAt(0)
  const digit = first >= 48 && first <= 57
  const sign = first === 43 || first === 45 // + -
  if (!digit && !sign && first !== 46 /* . */ && !'yYnNtTfFoO~'.includes(text[0] as string)) return text
  const known = resolveMap.get(text)
  if (known !== undefined) return known
  if (first === 46) return goFloat.test(text) ? parseFloatValue(text) ?? text : text
  if (!digit && !sign) return text
  const plain = text.includes('_') ? text.replaceAll('_', '') : text
  const int = parseGoInt(plain)
  if (int !== undefined) return int
  if (goFloat.test(plain)) return parseFloatValue(plain) ?? text
  return text
}

/** Go's ParseFloat: out of range is an error (go-yaml then keeps the text); underflow is 0. */
function parseFloatValue (text: string): number | undefined {
  const value = Number(text)
  return Number.isFinite(value) ? value : undefined
}

/** ParseInt(s, 0, 64), then ParseUint(s, 0, 64) (no sign), as go-yaml v2 tries them. */
function parseGoInt (plain: string): number | undefined {
  const m = goInt.exec(plain)
  if (m === null) return undefined
  const [, sign, hex, oct, bin, leadingZero, dec] = m
  const digits = hex ?? oct ?? bin ?? leadingZero ?? dec ?? ''
  const radix = hex !== undefined ? 16 : oct !== undefined ? 8 : bin !== undefined ? 2 : leadingZero !== undefined ? 8 : 10
  if (digits.length <= 12) {
    const value = parseInt(digits, radix)
    return sign === '-' && value !== 0 ? -value : value
  }
  const prefix = radix === 16 ? '0x' : radix === 8 ? '0o' : radix === 2 ? '0b' : ''
  const big = BigInt(`${prefix}${digits}`) * (sign === '-' ? -1n : 1n)
  if (big >= int64Min && big <= int64Max) return Number(big)
  if (sign === '' && big <= uint64Max) return Number(big)
  return undefined
}

/**
 * The JSON key sigs.k8s.io/yaml makes of a plain key: integers and booleans as text, floats in Go's
 * float32 'g' format; a null key is an error there ("unsupported map key"), so it is undefined here.
 */
export function plainKeyString (text: string): string | undefined {
  const value = resolvePlain(text)
  if (typeof value === 'string') return value
  if (typeof value === 'boolean') return value ? 'true' : 'false'
  if (value === null) return undefined
  const first = text.charCodeAt(0)
  const isInt = (first === 43 || first === 45 || (first >= 48 && first <= 57)) && goInt.test(text.replaceAll('_', '')) && parseGoInt(text.replaceAll('_', '')) !== undefined
  return isInt ? String(value) : formatFloat32Key(value)
}

/** Go's strconv.FormatFloat(f, 'g', -1, 32): the shortest float32 digits, %e when the exponent is < -4 or >= 6. */
function formatFloat32Key (value: number): string {
  if (value === Number.POSITIVE_INFINITY) return '.inf'
  if (value === Number.NEGATIVE_INFINITY) return '-.inf'
  if (Number.isNaN(value)) return '.nan'
  const f = Math.fround(value)
  let digits = f.toPrecision(9)
  for (let p = 1; p <= 9; p++) {
    const candidate = f.toPrecision(p)
    if (Math.fround(Number(candidate)) === f) {
      digits = candidate
      break
    }
  }
  const [mantissa = '0', exp = '0'] = Number(digits).toExponential().split('e')
  const exponent = Number(exp)
  if (exponent < -4 || exponent >= 6) return `${mantissa}e${exponent < 0 ? '-' : '+'}${String(Math.abs(exponent)).padStart(2, '0')}`
  return String(Number(digits))
}

// YAML 1.1 spellings other readers take for non-strings that go-yaml v2 reads as strings: sexagesimal
// numbers (1:20), timestamps, '=' (the value key) and '<<'. Quoted on output so that every YAML 1.1
// or 1.2 reader sees a string.
const otherNonStrings = /^(?:[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?|[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}(?:[Tt ].*)?|=|<<|[-+]?\.(?:inf|nan)|y|n|yes|no|on|off|true|false|null|~)$/i
// Where a plain scalar would not be read back as the same string (YAML 1.2 §7.3.3, plus the flow
// indicators for flow context).
const unsafeStart = /^(?:[\s?:,[\]{}#&*!|>'"%@`]|-(?:\s|$)|---|\.\.\.)/
const unsafeInside = /: |:$| #|[\s]$|[\u0000-\u001f\u007f-\u009f\u2028\u2029\ufeff\ud800-\udfff\ufffe\uffff]/
const flowIndicators = /[,[\]{}]/
const nonPrintable = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\ufeff\ud800-\udfff\ufffe\uffff]/

/**
 * Whether a multi-line string can be a literal block scalar (`|`) and read back the same: printable
 * lines, none starting with a space (no indentation indicator needed), at most one final line break.
 */
export function literalBlock (text: string): boolean {
  return text.includes('\n') && !/\n\n$|^[ \t]|\n[ \t]|[ \t]\n|[ \t]$/.test(text) && !/[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u2028\u2029\ufeff\ud800-\udfff\ufffe\uffff]/.test(text) && !/^\n/.test(text)
}

/** Whether a string must be quoted for kubectl (and any YAML 1.1 or 1.2 reader) to read it back as itself. */
export function needsQuotes (text: string, flow = false): boolean {
  if (text === '' || unsafeStart.test(text) || unsafeInside.test(text)) return true
  if (flow && flowIndicators.test(text)) return true
  if (otherNonStrings.test(text)) return true
  return typeof resolvePlain(text) !== 'string'
}

/** A string as a YAML scalar: plain when safe, single-quoted when printable, else double-quoted with escapes. */
export function formatString (text: string, flow = false): string {
  if (!needsQuotes(text, flow)) return text
  if (nonPrintable.test(text)) return doubleQuoted(text)
  // Double quotes, as kubectl writes them, unless the string has its own (JSON in an annotation).
  return /["\\]/.test(text) ? `'${text.replaceAll("'", "''")}'` : `"${text}"`
}

const escapes: Record<string, string> = { '\n': '\\n', '\t': '\\t', '\r': '\\r', '"': '\\"', '\\': '\\\\', '\u0085': '\\N', '\u2028': '\\L', '\u2029': '\\P' }

// go-yaml v2 knows \0 \a \b \t \n \v \f \r \e \" \\ \N \_ \L \P \x \u \U but not YAML 1.2's \/.
/** A string double-quoted, escaping what a YAML 1.1 reader would fold or refuse. */
export function doubleQuoted (text: string): string {
  return `"${text.replace(/[\u0000-\u001f\u007f-\u009f"\\\u2028\u2029\ufeff\ud800-\udfff\ufffe\uffff]/g, c => escapes[c] ?? `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)}"`
}

/** A JSON scalar as YAML text. */
export function formatScalar (value: unknown, flow = false): string {
  if (value === null || value === undefined) return 'null'
  if (typeof value === 'string') return formatString(value, flow)
  if (typeof value === 'number') return Number.isFinite(value) ? String(value) : 'null'
  if (typeof value === 'boolean') return value ? 'true' : 'false'
  return formatString(String(value), flow)
}
