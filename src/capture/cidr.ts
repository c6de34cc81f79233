// CIDR parsing for the capture rules. Addresses are written in the canonical form `iptables-save`
// prints (network address, v6 compressed per RFC 5952), so that the drift check in reconcile.ts is a
// plain string comparison: `-d 10.1.2.3/8` is printed back by iptables as `-d 10.0.0.0/8`.
// https://www.rfc-editor.org/rfc/rfc5952#section-4

export type Family = 'ipv4' | 'ipv6'

export interface Cidr {
  readonly family: Family
  /** Canonical text, e.g. `10.0.0.0/8`, `2001:db8::/32`. */
  readonly text: string
  /** True for 127.0.0.0/8 and ::1 (Istio omits the app-over-lo RETURN when an include CIDR is loopback). */
  readonly loopback: boolean
}

/** Parses `a.b.c.d/n` or `v6/n`; a bare address is refused, as Istio's netip.ParsePrefix does. */
export function parseCidr (input: string): Cidr | undefined {
  const slash = input.indexOf('/')
  if (slash < 0 || input.indexOf('/', slash + 1) >= 0) return undefined
  const address = input.slice(0, slash)
  const lengthText = input.slice(slash + 1)
  if (!/^\d{1,3}$/.test(lengthText)) return undefined
  const length = Number(lengthText)
  const v4 = parseIpv4(address)
  if (v4 !== undefined) {
    if (length > 32) return undefined
    const masked = maskBytes(v4, length)
    return { family: 'ipv4', text: `${masked.join('.')}/${length}`, loopback: v4[0] === 127 }
  }
  const v6 = parseIpv6(address)
  if (v6 !== undefined) {
    if (length > 128) return undefined
    const masked = maskBytes(v6, length)
    const loopback = v6.every((b, i) => b === (i === 15 ? 1 : 0))
    return { family: 'ipv6', text: `${formatIpv6(masked)}/${length}`, loopback }
  }
  return undefined
}

function maskBytes (bytes: readonly number[], length: number): number[] {
  return bytes.map((b, i) => {
    const keep = Math.max(0, Math.min(8, length - i * 8))
    return b & ((0xff << (8 - keep)) & 0xff)
  })
}

/** Dotted quad, no leading zeros (which some parsers read as octal). */
export function parseIpv4 (text: string): number[] | undefined {
  const parts = text.split('.')
  if (parts.length !== 4) return undefined
  const bytes: number[] = []
  for (const part of parts) {
    if (!/^(0|[1-9]\d{0,2})$/.test(part)) return undefined
    const n = Number(part)
    if (n > 255) return undefined
    bytes.push(n)
  }
  return bytes
}

/** RFC 4291 text form, including `::` and an embedded dotted quad; returns 16 bytes. */
export function parseIpv6 (text: string): number[] | undefined {
  if (!/^[0-9a-fA-F:.]+$/.test(text)) return undefined
  const halves = text.split('::')
  if (halves.length > 2) return undefined
  const groupsOf = (part: string): number[] | undefined => {
    if (part === '') return []
    const out: number[] = []
    const pieces = part.split(':')
    for (const [i, piece] of pieces.entries()) {
      if (i === pieces.length - 1 && piece.includes('.')) {
        const v4 = parseIpv4(piece)
        if (v4 === undefined) return undefined
        out.push(((v4[0] ?? 0) << 8) | (v4[1] ?? 0), ((v4[2] ?? 0) << 8) | (v4[3] ?? 0))
        continue
      }
      if (!/^[0-9a-fA-F]{1,4}$/.test(piece)) return undefined
      out.push(parseInt(piece, 16))
    }
    return out
  }
  const head = groupsOf(halves[0] ?? '')
  const tail = halves.length === 2 ? groupsOf(halves[1] ?? '') : []
  if (head === undefined || tail === undefined) return undefined
  let groups: number[]
  if (halves.length === 2) {
    const missing = 8 - head.length - tail.length
    if (missing < 1) return undefined
    groups = [...head, ...new Array<number>(missing).fill(0), ...tail]
  } else {
    groups = head
  }
  if (groups.length !== 8) return undefined
  return groups.flatMap(g => [g >> 8, g & 0xff])
}

/**
 * RFC 5952: lower case, no leading zeros, the longest run (>= 2) of zero groups as `::`, first one on a tie;
 * like glibc's inet_ntop (which iptables-save uses), `::a.b.c.d` and `::ffff:a.b.c.d` keep the dotted quad.
 */
export function formatIpv6 (bytes: readonly number[]): string {
  const groups: number[] = []
  for (let i = 0; i < 16; i += 2) groups.push(((bytes[i] ?? 0) << 8) | (bytes[i + 1] ?? 0))
  const quad = bytes.slice(12, 16).join('.')
  if (groups.slice(0, 6).every(g => g === 0) && groups[6] !== 0) return `::${quad}`
  if (groups.slice(0, 5).every(g => g === 0) && groups[5] === 0xffff) return `::ffff:${quad}`
  let bestStart = -1
  let bestLength = 0
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) { i++; continue }
    let j = i
    while (j < 8 && groups[j] === 0) j++
    if (j - i > bestLength) { bestStart = i; bestLength = j - i }
    i = j
  }
  const hex = (g: number[]): string => g.map(n => n.toString(16)).join(':')
  if (bestLength < 2) return hex(groups)
  return `${hex(groups.slice(0, bestStart))}::${hex(groups.slice(bestStart + bestLength))}`
}
