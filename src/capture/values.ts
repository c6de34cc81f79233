// The values of the init container's command line, parsed once and by one owner: `capture` reads its
// flags with these, and the injection core checks the pod's capture annotations with the same
// functions, so that nothing the core admits is refused by the init container later.
// istio-iptables' rules: https://github.com/istio/istio/blob/master/tools/istio-iptables/pkg/cmd/root.go
import type { Cidr } from './cidr.js'
import { parseCidr } from './cidr.js'

export type PortSelection =
  | { readonly kind: 'none' }
  | { readonly kind: 'all' }
  | { readonly kind: 'list', readonly ports: readonly number[] }

export type CidrSelection =
  | { readonly kind: 'none' }
  | { readonly kind: 'all' }
  | { readonly kind: 'list', readonly cidrs: readonly Cidr[] }

export type ValueProblemCode =
  | 'invalid-port-list'
  | 'invalid-cidr'
  | 'wildcard-not-allowed'
  | 'invalid-id'
  | 'invalid-interface'

/**
 * Why a value is refused. `item` is the offending list item, if one is to blame; `reason` reads after
 * it (`'<item>' <reason>`), or stands alone when there is no item.
 */
export interface ValueProblem {
  readonly ok: false
  readonly code: ValueProblemCode
  readonly item?: string
  readonly reason: string
}

export type Parsed<T> = { readonly ok: true, readonly value: T } | ValueProblem

/** A decimal port from `min` to 65535, exactly as written (callers trim). */
export function parsePort (text: string, min: number): number | undefined {
  if (!/^\d{1,5}$/.test(text)) return undefined
  const n = Number(text)
  return n >= min && n <= 65535 ? n : undefined
}

/** Go's strconv.ParseBool, which istio-iptables uses for its env vars and Istio for boolean annotations. */
export function parseGoBool (text: string): boolean | undefined {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(text)) return true
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(text)) return false
  return undefined
}

/** A numeric uid or gid; 4294967295 is (uid_t)-1, "no id". Owner matching takes numbers (names are not resolved). */
export function parseId (text: string): number | undefined {
  return /^\d{1,10}$/.test(text) && Number(text) <= 4294967294 ? Number(text) : undefined
}

function items (text: string): string[] {
  return text.split(',').map(s => s.trim())
}

function wildcardProblem (code: 'invalid-port-list' | 'invalid-cidr', wildcard: boolean, what: string): ValueProblem {
  return wildcard
    ? { ok: false, code, reason: "'*' must be the whole value" }
    : { ok: false, code: 'wildcard-not-allowed', reason: `'*' is not allowed in ${what}` }
}

/** `-b`/`-d`/`-q`/`-o`: a comma list of ports (0–65535, duplicates dropped); `*` alone where `wildcard`; '' is none. */
export function parsePortList (text: string, wildcard: boolean): Parsed<PortSelection> {
  if (text.trim() === '') return { ok: true, value: { kind: 'none' } }
  const list = items(text)
  if (list.includes('*')) {
    return wildcard && list.length === 1 ? { ok: true, value: { kind: 'all' } } : wildcardProblem('invalid-port-list', wildcard, 'this list')
  }
  const ports: number[] = []
  for (const item of list) {
    const n = parsePort(item, 0)
    if (n === undefined) return { ok: false, code: 'invalid-port-list', item, reason: 'is not a port (0-65535)' }
    if (!ports.includes(n)) ports.push(n)
  }
  return { ok: true, value: { kind: 'list', ports } }
}

/** `-i`/`-x`: a comma list of CIDRs (a bare address is refused, as netip.ParsePrefix does); `*` alone where `wildcard`. */
export function parseCidrList (text: string, wildcard: boolean): Parsed<CidrSelection> {
  if (text.trim() === '') return { ok: true, value: { kind: 'none' } }
  const list = items(text)
  if (list.includes('*')) {
    return wildcard && list.length === 1 ? { ok: true, value: { kind: 'all' } } : wildcardProblem('invalid-cidr', wildcard, 'an exclude list')
  }
  const cidrs: Cidr[] = []
  for (const item of list) {
    const cidr = parseCidr(item)
    if (cidr === undefined) return { ok: false, code: 'invalid-cidr', item, reason: 'is not a CIDR (like 10.0.0.0/8 or fd00::/8)' }
    if (!cidrs.some(c => c.text === cidr.text)) cidrs.push(cidr)
  }
  return { ok: true, value: { kind: 'list', cidrs } }
}

/** `-u`/`-g`: a comma list of numeric ids; '' is none. */
export function parseIdList (text: string): Parsed<readonly number[]> {
  if (text.trim() === '') return { ok: true, value: [] }
  const ids: number[] = []
  for (const item of items(text)) {
    const id = parseId(item)
    if (id === undefined) return { ok: false, code: 'invalid-id', item, reason: 'is not a numeric id' }
    if (!ids.includes(id)) ids.push(id)
  }
  return { ok: true, value: ids }
}

/**
 * `-k`/`-c`: Linux interface names, at most 15 bytes (IFNAMSIZ - 1), of the characters iptables'
 * `-i`/`-o` take (no '/', ':' or whitespace), with an optional trailing '+' wildcard; '' is none.
 */
export function parseInterfaceList (text: string): Parsed<readonly string[]> {
  if (text.trim() === '') return { ok: true, value: [] }
  const nics: string[] = []
  for (const item of items(text)) {
    if (!/^[A-Za-z0-9_.@-]{1,15}\+?$/.test(item) || item === '.' || item === '..') {
      return { ok: false, code: 'invalid-interface', item, reason: 'is not an interface name' }
    }
    if (!nics.includes(item)) nics.push(item)
  }
  return { ok: true, value: nics }
}

/** The problem as one phrase: `'<item>' <reason>`, or the reason alone. */
export function describeValueProblem (problem: ValueProblem): string {
  return problem.item === undefined ? problem.reason : `'${problem.item}' ${problem.reason}`
}
