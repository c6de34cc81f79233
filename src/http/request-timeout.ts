// The API server's `?timeout=` on a webhook call: how long it will wait for our answer. It sets the
// parameter from its call's deadline (the webhook's timeoutSeconds, or less when the API request's own
// deadline is nearer), rounded up to whole seconds and written by Go's time.Duration.String: `10s`,
// `1m0s`, `1m30s`. https://github.com/kubernetes/apiserver/blob/v0.34.10/pkg/admission/plugin/webhook/mutating/dispatcher.go#L284
// (client-go's rest.Request.Timeout puts it in the query).
//
// The value only ever shortens how long a review waits for room, so a value we cannot read is ignored,
// never an error: a 400 would turn a client's quirk (or a format the API server adopts later) into
// failed pod creation under failurePolicy Fail, and ignoring it costs nothing.

/** Longer values change nothing (the wait for room is shorter) and are ignored, as are unreadable ones. */
export const maxRequestTimeoutMs = 3_600_000

/** Go's duration units, in milliseconds (µ written as U+00B5 or U+03BC, as Go accepts both). */
const unitMs: Record<string, number> = { h: 3_600_000, m: 60_000, s: 1000, ms: 1, us: 1e-3, µs: 1e-3, μs: 1e-3, ns: 1e-6 }
const durationPart = /(\d+(?:\.\d*)?|\.\d+)(h|ms|m|s|us|µs|μs|ns)/y

/**
 * The `timeout` query value in milliseconds, if it is one positive Go duration of at most an hour
 * written in at most 32 characters; otherwise undefined. Linear in the (bounded) input.
 */
export function parseRequestTimeout (value: unknown): number | undefined {
  if (typeof value !== 'string' || value.length === 0 || value.length > 32) return undefined
  let ms = 0
  durationPart.lastIndex = 0
  while (durationPart.lastIndex < value.length) {
    const at = durationPart.lastIndex
    const part = durationPart.exec(value)
    if (part === null || part.index !== at) return undefined
    ms += Number(part[1]) * (unitMs[part[2] as string] ?? Number.NaN)
  }
  return ms > 0 && ms <= maxRequestTimeoutMs ? ms : undefined
}

/**
 * How long a review may wait for room, given the caller's timeout: the budget's wait, but never so long
 * that the work and the answer (a 3 MiB review is ~0.4 s of work alone, docs/operations.md) could not
 * fit before the caller gives up. Half the timeout is kept for them, at most a second.
 */
export function waitForRoomMs (budgetWaitMs: number, timeoutMs: number | undefined): number {
  if (timeoutMs === undefined) return budgetWaitMs
  const keptForWork = Math.min(1000, timeoutMs / 2)
  return Math.max(0, Math.min(budgetWaitMs, timeoutMs - keptForWork))
}
