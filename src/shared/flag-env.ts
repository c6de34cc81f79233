// The one way a flag and its environment variable are merged: a flag given on the command line wins,
// else the first of its variables that is set. `serve` names its variables INJECTOR_<FLAG>; `capture`
// uses istio-iptables' names (the long flag upper-cased, plus a few aliases Istio also reads).

export type FlagValues = Readonly<Record<string, string | boolean | undefined>>
export type Environment = Readonly<Record<string, string | undefined>>

export type FlagOrEnv =
  | { readonly value: string | boolean, readonly from: 'flag' }
  | { readonly value: string, readonly from: 'env', readonly variable: string }

/** `--tls-cert-file` → `TLS_CERT_FILE`. */
export function envNameOf (long: string): string {
  return long.toUpperCase().replaceAll('-', '_')
}

/**
 * The flag's value if given, else the first variable of `variables` that is set. With
 * `emptyIsUnset`, `VAR=` counts as not set (serve); istio-iptables reads an empty variable as a value.
 */
export function lookupFlagOrEnv (
  values: FlagValues, flag: string, variables: readonly string[], env: Environment, emptyIsUnset = false
): FlagOrEnv | undefined {
  const given = values[flag]
  if (given !== undefined) return { value: given, from: 'flag' }
  for (const variable of variables) {
    const value = env[variable]
    if (value === undefined || (emptyIsUnset && value === '')) continue
    return { value, from: 'env', variable }
  }
  return undefined
}
