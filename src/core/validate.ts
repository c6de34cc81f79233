// Value validators shared by the config and the per-pod annotations. Each returns undefined when the
// value is valid, or the reason it is not. They follow Istio's annotation validation
// (pkg/kube/inject/validate.go): no whitespace inside CIDR lists, ports 0–65535 (trimmed), `*` only
// where an include list allows it.
import { isIP } from 'node:net'

export type Check = (value: string) => string | undefined

export function validateCidr (cidr: string): string | undefined {
  const slash = cidr.indexOf('/')
  if (slash < 0) return `'${cidr}' is not a CIDR (address/prefix)`
  const address = cidr.slice(0, slash)
  const prefix = cidr.slice(slash + 1)
  const family = isIP(address)
  if (family === 0) return `'${address}' is not an IP address`
  const max = family === 4 ? 32 : 128
  if (!/^\d{1,3}$/.test(prefix) || Number(prefix) > max) return `'${prefix}' is not a prefix length from 0 to ${max}`
  return undefined
}

export function validateCidrList (value: string, allowWildcard: boolean): string | undefined {
  if (value === '') return undefined
  if (value === '*') return allowWildcard ? undefined : "'*' is not allowed here"
  for (const cidr of value.split(',')) {
    const reason = validateCidr(cidr)
    if (reason !== undefined) return reason
  }
  return undefined
}

export function validatePort (text: string): string | undefined {
  const port = text.trim()
  if (!/^\d{1,5}$/.test(port) || Number(port) > 65535) return `'${text}' is not a port from 0 to 65535`
  return undefined
}

export function validatePortList (value: string, allowWildcard: boolean): string | undefined {
  if (value.trim() === '') return undefined
  if (value.trim() === '*') return allowWildcard ? undefined : "'*' is not allowed here"
  for (const port of value.split(',')) {
    const reason = validatePort(port)
    if (reason !== undefined) return reason
  }
  return undefined
}

/** Linux interface names: at most 15 bytes, no '/', no whitespace, not '.' or '..'. */
export function validateInterfaceList (value: string): string | undefined {
  if (value === '') return undefined
  for (const name of value.split(',')) {
    const iface = name.trim()
    if (iface === '' || iface.length > 15 || /[/\s]/.test(iface) || iface === '.' || iface === '..') {
      return `'${name}' is not a network interface name`
    }
  }
  return undefined
}

const quantity = /^\+?(\d+(\.\d*)?|\.\d+)(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|[eE][+-]?\d+)?$/

/** A non-negative Kubernetes resource quantity (k8s.io/apimachinery resource.ParseQuantity). */
export function isValidQuantity (value: string): boolean {
  return quantity.test(value)
}

export function validateQuantity (value: string): string | undefined {
  return isValidQuantity(value) ? undefined : `'${value}' is not a Kubernetes quantity (e.g. 100m, 128Mi, 1Gi)`
}

export function validateUint32 (value: string): string | undefined {
  return /^\d{1,10}$/.test(value) && Number(value) <= 4294967295 ? undefined : `'${value}' is not a non-negative integer`
}

/** Go's strconv.ParseBool, which Istio uses for boolean annotations. */
export function parseGoBool (value: string): boolean | undefined {
  if (['1', 't', 'T', 'true', 'TRUE', 'True'].includes(value)) return true
  if (['0', 'f', 'F', 'false', 'FALSE', 'False'].includes(value)) return false
  return undefined
}

export function validateBool (value: string): string | undefined {
  return parseGoBool(value) === undefined ? `'${value}' is not a boolean (true or false)` : undefined
}
