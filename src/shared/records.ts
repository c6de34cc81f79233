// The one test for "a JSON object" (not null, not an array), used wherever untrusted JSON or YAML is
// read: admission reviews, annotations, config documents, manifests.

export type JsonRecord = Record<string, unknown>

export function isRecord (value: unknown): value is JsonRecord {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}
