// Value checks shared by the config and the per-pod annotations. Each returns undefined when the value
// is valid, or the reason it is not. The values the init container reads are parsed by the capture
// command's own parsers (src/capture/values.ts), so that the core never admits what `capture` would
// refuse; Istio's annotation validation (pkg/kube/inject/validate.go) adds its stricter rules on top:
// no whitespace inside CIDR lists. https://github.com/istio/istio/blob/master/pkg/kube/inject/validate.go
import {
  describeValueProblem, parseCidrList, parseGoBool, parseInterfaceList, parsePort, parsePortList
} from '../capture/values.js'
import type { Parsed } from '../capture/values.js'

export type Check = (value: string) => string | undefined

function reasonOf<T> (parsed: Parsed<T>): string | undefined {
  return parsed.ok ? undefined : describeValueProblem(parsed)
}

export function validateCidrList (value: string, allowWildcard: boolean): string | undefined {
  if (/\s/.test(value)) return 'must not contain whitespace'
  return reasonOf(parseCidrList(value, allowWildcard))
}

/** A port from 0 to 65535 (surrounding whitespace allowed, as Istio trims it). */
export function validatePort (text: string): string | undefined {
  return parsePort(text.trim(), 0) === undefined ? `'${text}' is not a port from 0 to 65535` : undefined
}

export function validatePortList (value: string, allowWildcard: boolean): string | undefined {
  return reasonOf(parsePortList(value, allowWildcard))
}

export function validateInterfaceList (value: string): string | undefined {
  return reasonOf(parseInterfaceList(value))
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

export function validateBool (value: string): string | undefined {
  return parseGoBool(value) === undefined ? `'${value}' is not a boolean (true or false)` : undefined
}
