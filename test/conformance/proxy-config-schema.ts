// Part of `make conformance`: the ProxyConfig schema src/core/proxy-config.ts decodes with equals the
// .proto files of the istio.io/api module the pinned istio.io/istio uses (read from the Go module
// cache, never copied): every message's fields in declaration order with their types, its oneofs, and
// every enum's values. A field Istio adds or retypes fails here, naming it.
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { enums, messages } from '../../src/core/proxy-config.js'
import { repoRoot } from './lib/oracle.js'

interface ProtoMessage { fields: Array<[string, string]>, oneofs: Record<string, string[]> }
type Scope = { kind: 'message', name: string, own: boolean } | { kind: 'enum', name: string, own: boolean } | { kind: 'oneof', name: string } | { kind: 'other' }

/**
 * The messages (fields with their proto types, as `list:`/`map:` prefixed) and enums of .proto files,
 * by short name; for a name declared twice, the first declaration counts. Comments, options and
 * reserved lines are skipped.
 */
function parseProtos (texts: string[]): { messages: Map<string, ProtoMessage>, enums: Map<string, Record<string, number>> } {
  const msgs = new Map<string, ProtoMessage>()
  const ens = new Map<string, Record<string, number>>()
  for (const text of texts) {
    const lines = text.replace(/\/\*[\s\S]*?\*\//g, '').split('\n').map(l => l.replace(/\/\/.*$/, '').trim()).filter(l => l !== '')
    const stack: Scope[] = []
    const owner = (): ProtoMessage | undefined => {
      const m = [...stack].reverse().find(s => s.kind === 'message')
      return m?.kind === 'message' && m.own ? msgs.get(m.name) : undefined
    }
    for (const line of lines) {
      let m: RegExpExecArray | null
      if ((m = /^(message|enum|oneof)\s+(\w+)\s*\{\s*(\})?$/.exec(line)) !== null) {
        const kind = m[1] ?? ''
        const name = m[2] ?? ''
        let scope: Scope
        if (kind === 'oneof') {
          const o = owner()
          if (o !== undefined) o.oneofs[name] = []
          scope = { kind: 'oneof', name }
        } else if (kind === 'message') {
          scope = { kind: 'message', name, own: !msgs.has(name) }
          if (scope.own) msgs.set(name, { fields: [], oneofs: {} })
        } else {
          scope = { kind: 'enum', name, own: !ens.has(name) }
          if (scope.own) ens.set(name, {})
        }
        if (m[3] === undefined) stack.push(scope)
        continue
      }
      if (line.endsWith('{')) { stack.push({ kind: 'other' }); continue }
      if (line.startsWith('}')) { stack.pop(); continue }
      const top = stack.at(-1)
      if (top === undefined || /^(reserved|option)\b/.test(line)) continue
      if (top.kind === 'enum') {
        const values = top.own ? ens.get(top.name) : undefined
        if (values !== undefined && (m = /^(\w+)\s*=\s*(-?\d+)/.exec(line)) !== null) values[m[1] ?? ''] = Number(m[2])
        continue
      }
      const o = owner()
      if (o === undefined || (m = /^(repeated\s+)?(?:map<\s*string\s*,\s*([\w.]+)\s*>|([\w.]+))\s+(\w+)\s*=\s*\d+/.exec(line)) === null) continue
      const field = m[4] ?? ''
      o.fields.push([field, m[2] !== undefined ? `map:${m[2]}` : `${m[1] !== undefined ? 'list:' : ''}${m[3] ?? ''}`])
      if (top.kind === 'oneof') o.oneofs[top.name]?.push(field)
    }
  }
  return { messages: msgs, enums: ens }
}

const scalars: Record<string, string> = {
  string: 'string',
  bool: 'bool',
  int32: 'int32',
  uint32: 'uint32',
  int64: 'int64',
  double: 'double',
  'google.protobuf.Duration': 'duration',
  'google.protobuf.BoolValue': 'BoolValue',
  'google.protobuf.Int32Value': 'Int32Value',
  'google.protobuf.Int64Value': 'Int64Value'
}

const goEnv = { ...process.env, GOFLAGS: '-mod=readonly', GOTOOLCHAIN: 'local', PATH: `${process.env.PATH ?? ''}:/usr/local/go/bin` }
const download = JSON.parse(execFileSync('go', ['mod', 'download', '-json', 'istio.io/api'], { cwd: join(repoRoot, 'test/istio-oracle'), encoding: 'utf8', env: goEnv })) as { Dir: string }
const files = ['mesh/v1alpha1/proxy.proto', 'networking/v1alpha3/destination_rule.proto', 'networking/v1alpha3/workload_group.proto', 'networking/v1beta1/proxy_config.proto']
const parsed = parseProtos(files.map(f => readFileSync(join(download.Dir, f), 'utf8')))

t.test(`our ProxyConfig schema is istio.io/api's (${download.Dir.split('@')[1] ?? ''})`, async t => {
  const typeOf = (protoType: string): string => {
    if (protoType.startsWith('list:')) return `list:${typeOf(protoType.slice(5))}`
    if (protoType.startsWith('map:')) return `map:${typeOf(protoType.slice(4))}`
    const scalar = scalars[protoType]
    if (scalar !== undefined) return scalar
    const short = protoType.split('.').at(-1) ?? protoType
    if (parsed.enums.has(short)) return `enum:${short}`
    return `msg:${short}`
  }
  for (const [name, spec] of Object.entries(messages)) {
    const proto = parsed.messages.get(name)
    if (proto === undefined) { t.fail(`${name}: no such message in ${files.join(', ')}`); continue }
    t.same(Object.entries(spec.fields), proto.fields.map(([field, type]) => [field, typeOf(type)]), `${name}: fields, in order, with their types`)
    t.same(spec.oneofs ?? {}, proto.oneofs, `${name}: oneofs`)
    for (const type of Object.values(spec.fields)) {
      const target = type.replace(/^(list:|map:)/, '')
      if (target.startsWith('msg:')) t.ok(Object.hasOwn(messages, target.slice(4)), `${name}: ${target} is described too`)
      if (target.startsWith('enum:')) t.same(enums[target.slice(5)], parsed.enums.get(target.slice(5)), `${name}: ${target}'s values`)
    }
  }
})
