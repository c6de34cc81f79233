// Loads the pod fixtures under test/fixtures/pods: fresh, deeply frozen copies, so a test fails if
// anything mutates its input.
import { readFileSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { parseAllDocuments } from 'yaml'
import type { Pod } from '../../src/core/types.js'

export const fixturesDir = join(import.meta.dirname, '..', 'fixtures')
export const podsDir = join(fixturesDir, 'pods')

export function podFixtureNames (): string[] {
  return readdirSync(podsDir).filter(f => /\.(ya?ml|json)$/.test(f)).sort()
}

export function loadPod (file: string): Pod {
  const text = readFileSync(join(podsDir, file), 'utf8')
  const docs = parseAllDocuments(text).map(d => d.toJS() as Pod)
  if (docs.length !== 1 || docs[0] === undefined) throw new Error(`${file}: expected one document`)
  return deepFreeze(docs[0])
}

export function deepFreeze<T> (value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value)
    for (const v of Object.values(value)) deepFreeze(v)
  }
  return value
}
