// proxy.istio.io/config read the way Istio's injector reads it, as a whole ProxyConfig
// (docs/istio-compatibility.md, "proxy.istio.io/config"). Istio converts the YAML to JSON
// (sigs.k8s.io/yaml: YAML 1.1, so `yes`/`on` are booleans), decodes it into the ProxyConfig message
// with golang/protobuf's jsonpb (unknown fields ignored, both snake_case and camelCase names,
// integers also in quotes, durations in Go's time.ParseDuration syntax, enums by name or number) over
// its defaults, then checks the result with ValidateMeshConfigProxyConfig; either failure refuses the
// pod. This module does both steps from a description of the message (the schema below), so that what
// Istio refuses is refused here, with the path of the field, and what it accepts is accepted.
// https://github.com/istio/istio/blob/master/pkg/kube/inject/validate.go (validateProxyConfig)
// https://github.com/golang/protobuf/blob/master/jsonpb/decode.go
// https://github.com/istio/istio/blob/master/pkg/config/validation/agent/validation.go
// https://github.com/istio/api/blob/master/mesh/v1alpha1/proxy.proto
import { isIP } from 'node:net'
import { isRecord } from '../shared/records.js'

/** A field's type: a scalar, a google.protobuf wrapper, `enum:<name>`, `msg:<name>`, `list:<type>` or `map:<type>` (string keys). */
type FieldType = string

interface MessageSpec {
  /** Proto field name → type, in declaration order (jsonpb decodes in this order, so the last member of a oneof wins). */
  fields: Record<string, FieldType>
  /** Oneof name → its member fields. */
  oneofs?: Record<string, string[]>
}

/** The enums ProxyConfig uses: value name → number. */
export const enums: Record<string, Record<string, number>> = {
  AuthenticationPolicy: { NONE: 0, MUTUAL_TLS: 1, INHERIT: 1000 },
  TraceContext: { UNSPECIFIED: 0, W3C_TRACE_CONTEXT: 1, GRPC_BIN: 2, CLOUD_TRACE_CONTEXT: 3, B3: 4 },
  ForwardClientCertDetails: { UNDEFINED: 0, SANITIZE: 1, FORWARD_ONLY: 2, APPEND_FORWARD: 3, SANITIZE_SET: 4, ALWAYS_FORWARD_ONLY: 5 },
  TracingServiceName: { APP_LABEL_AND_NAMESPACE: 0, CANONICAL_NAME_ONLY: 1, CANONICAL_NAME_AND_NAMESPACE: 2 },
  InboundInterceptionMode: { REDIRECT: 0, TPROXY: 1, NONE: 2 },
  MetadataExchangeMode: { UNDEFINED: 0, IN_MESH: 1 },
  Profile: { SIDECAR: 0, EDGE: 1 },
  HeadersWithUnderscoresAction: {
    HEADERS_WITH_UNDERSCORES_UNSPECIFIED: 0, HEADERS_WITH_UNDERSCORES_ALLOW: 1, HEADERS_WITH_UNDERSCORES_REJECT_REQUEST: 2, HEADERS_WITH_UNDERSCORES_DROP_HEADER: 3
  },
  PathWithEscapedSlashesAction: {
    PATH_WITH_ESCAPED_SLASHES_UNSPECIFIED: 0, KEEP_UNCHANGED: 1, REJECT_REQUEST: 2, UNESCAPE_AND_REDIRECT: 3, UNESCAPE_AND_FORWARD: 4
  },
  TLSmode: { DISABLE: 0, SIMPLE: 1, MUTUAL: 2, ISTIO_MUTUAL: 3 }
}

/**
 * istio.mesh.v1alpha1.ProxyConfig and the messages it contains (mesh/v1alpha1/proxy.proto, with
 * networking ClientTLSSettings, TcpKeepalive, ReadinessProbe and ProxyImage), as of the istio.io/api
 * the pinned istio.io/istio uses. test/core/proxy-config-schema.test.ts compares it with the .proto
 * files in the Go module cache when they are there.
 */
export const messages: Record<string, MessageSpec> = {
  ProxyConfig: {
    fields: {
      config_path: 'string',
      binary_path: 'string',
      service_cluster: 'string',
      tracing_service_name: 'enum:TracingServiceName',
      drain_duration: 'duration',
      discovery_address: 'string',
      discovery_refresh_delay: 'duration',
      zipkin_address: 'string',
      statsd_udp_address: 'string',
      envoy_metrics_service_address: 'string',
      proxy_admin_port: 'int32',
      availability_zone: 'string',
      control_plane_auth_policy: 'enum:AuthenticationPolicy',
      custom_config_file: 'string',
      stat_name_length: 'int32',
      concurrency: 'Int32Value',
      proxy_bootstrap_template_path: 'string',
      interception_mode: 'enum:InboundInterceptionMode',
      tracing: 'msg:Tracing',
      sds: 'msg:SDS',
      envoy_access_log_service: 'msg:RemoteService',
      envoy_metrics_service: 'msg:RemoteService',
      proxy_metadata: 'map:string',
      runtime_values: 'map:string',
      status_port: 'int32',
      extra_stat_tags: 'list:string',
      gateway_topology: 'msg:Topology',
      termination_drain_duration: 'duration',
      mesh_id: 'string',
      readiness_probe: 'msg:ReadinessProbe',
      proxy_stats_matcher: 'msg:ProxyStatsMatcher',
      hold_application_until_proxy_starts: 'BoolValue',
      ca_certificates_pem: 'list:string',
      image: 'msg:ProxyImage',
      private_key_provider: 'msg:PrivateKeyProvider',
      proxy_headers: 'msg:ProxyHeaders',
      file_flush_interval: 'duration',
      file_flush_min_size_kb: 'uint32',
      stats_compression: 'BoolValue',
      connection_settings: 'msg:ConnectionSettings'
    },
    oneofs: { cluster_name: ['service_cluster', 'tracing_service_name'] }
  },
  Tracing: {
    fields: {
      zipkin: 'msg:Zipkin',
      lightstep: 'msg:Lightstep',
      datadog: 'msg:Datadog',
      stackdriver: 'msg:Stackdriver',
      open_census_agent: 'msg:OpenCensusAgent',
      custom_tags: 'map:msg:CustomTag',
      max_path_tag_length: 'uint32',
      sampling: 'double',
      tls_settings: 'msg:ClientTLSSettings',
      enable_istio_tags: 'BoolValue'
    },
    oneofs: { tracer: ['zipkin', 'lightstep', 'datadog', 'stackdriver', 'open_census_agent'] }
  },
  Zipkin: { fields: { address: 'string' } },
  Lightstep: { fields: { address: 'string', access_token: 'string' } },
  Datadog: { fields: { address: 'string' } },
  Stackdriver: {
    fields: { debug: 'bool', max_number_of_attributes: 'Int64Value', max_number_of_annotations: 'Int64Value', max_number_of_message_events: 'Int64Value' }
  },
  OpenCensusAgent: { fields: { address: 'string', context: 'list:enum:TraceContext' } },
  CustomTag: {
    fields: { literal: 'msg:Literal', environment: 'msg:Environment', header: 'msg:RequestHeader' },
    oneofs: { type: ['literal', 'environment', 'header'] }
  },
  Literal: { fields: { value: 'string' } },
  Environment: { fields: { name: 'string', default_value: 'string' } },
  RequestHeader: { fields: { name: 'string', default_value: 'string' } },
  SDS: { fields: { enabled: 'bool', k8s_sa_jwt_path: 'string' } },
  Topology: {
    fields: { num_trusted_proxies: 'uint32', forward_client_cert_details: 'enum:ForwardClientCertDetails', proxy_protocol: 'msg:ProxyProtocolConfiguration' }
  },
  ProxyProtocolConfiguration: { fields: {} },
  PrivateKeyProvider: {
    fields: { cryptomb: 'msg:CryptoMb', qat: 'msg:QAT' },
    oneofs: { provider: ['cryptomb', 'qat'] }
  },
  CryptoMb: { fields: { poll_delay: 'duration', fallback: 'BoolValue' } },
  QAT: { fields: { poll_delay: 'duration', fallback: 'BoolValue' } },
  RemoteService: { fields: { address: 'string', tls_settings: 'msg:ClientTLSSettings', tcp_keepalive: 'msg:TcpKeepalive' } },
  ClientTLSSettings: {
    fields: {
      mode: 'enum:TLSmode',
      client_certificate: 'string',
      private_key: 'string',
      ca_certificates: 'string',
      credential_name: 'string',
      subject_alt_names: 'list:string',
      sni: 'string',
      insecure_skip_verify: 'BoolValue',
      ca_crl: 'string'
    }
  },
  TcpKeepalive: { fields: { probes: 'uint32', time: 'duration', interval: 'duration' } },
  ReadinessProbe: {
    fields: {
      initial_delay_seconds: 'int32',
      timeout_seconds: 'int32',
      period_seconds: 'int32',
      success_threshold: 'int32',
      failure_threshold: 'int32',
      http_get: 'msg:HTTPHealthCheckConfig',
      tcp_socket: 'msg:TCPHealthCheckConfig',
      exec: 'msg:ExecHealthCheckConfig',
      grpc: 'msg:GrpcHealthCheckConfig'
    },
    oneofs: { health_check_method: ['http_get', 'tcp_socket', 'exec', 'grpc'] }
  },
  HTTPHealthCheckConfig: { fields: { path: 'string', port: 'uint32', host: 'string', scheme: 'string', http_headers: 'list:msg:HTTPHeader' } },
  HTTPHeader: { fields: { name: 'string', value: 'string' } },
  TCPHealthCheckConfig: { fields: { host: 'string', port: 'uint32' } },
  ExecHealthCheckConfig: { fields: { command: 'list:string' } },
  GrpcHealthCheckConfig: { fields: { port: 'uint32', service: 'string' } },
  ProxyStatsMatcher: { fields: { inclusion_prefixes: 'list:string', inclusion_suffixes: 'list:string', inclusion_regexps: 'list:string' } },
  ProxyImage: { fields: { image_type: 'string' } },
  ProxyHeaders: {
    fields: {
      forwarded_client_cert: 'enum:ForwardClientCertDetails',
      set_current_client_cert_details: 'msg:SetCurrentClientCertDetails',
      request_id: 'msg:RequestId',
      server: 'msg:Server',
      attempt_count: 'msg:AttemptCount',
      envoy_debug_headers: 'msg:EnvoyDebugHeaders',
      metadata_exchange_headers: 'msg:MetadataExchangeHeaders',
      preserve_http1_header_case: 'BoolValue',
      x_forwarded_host: 'msg:XForwardedHost',
      x_forwarded_port: 'msg:XForwardedPort'
    }
  },
  Server: { fields: { disabled: 'BoolValue', value: 'string' } },
  RequestId: { fields: { disabled: 'BoolValue' } },
  AttemptCount: { fields: { disabled: 'BoolValue' } },
  XForwardedHost: { fields: { enabled: 'BoolValue' } },
  XForwardedPort: { fields: { enabled: 'BoolValue' } },
  EnvoyDebugHeaders: { fields: { disabled: 'BoolValue' } },
  MetadataExchangeHeaders: { fields: { mode: 'enum:MetadataExchangeMode' } },
  SetCurrentClientCertDetails: { fields: { subject: 'BoolValue', cert: 'BoolValue', chain: 'BoolValue', dns: 'BoolValue', uri: 'BoolValue' } },
  ConnectionSettings: {
    fields: {
      profile: 'enum:Profile',
      listener_per_connection_buffer_limit_bytes: 'Int32Value',
      cluster_per_connection_buffer_limit_bytes: 'Int32Value',
      http_idle_timeout: 'duration',
      http_max_connection_duration: 'duration',
      http_drain_timeout: 'duration',
      http_request_timeout: 'duration',
      http_request_headers_timeout: 'duration',
      http_stream_idle_timeout: 'duration',
      http_max_stream_duration: 'duration',
      http_max_concurrent_streams: 'Int32Value',
      http2_initial_stream_window_size: 'Int32Value',
      http2_initial_connection_window_size: 'Int32Value',
      http_headers_with_underscores_action: 'enum:HeadersWithUnderscoresAction',
      http_merge_slashes: 'BoolValue',
      http_path_with_escaped_slashes_action: 'enum:PathWithEscapedSlashesAction',
      listener_connection_limit: 'Int32Value',
      global_downstream_connection_limit: 'Int32Value'
    }
  }
}

/** protoc's JSON name of a field: lowerCamelCase of the proto name. */
export function jsonName (protoName: string): string {
  return protoName.replace(/_(.)/g, (_, c: string) => c.toUpperCase())
}

/** A decoded message: JSON names → values (durations as bigint nanoseconds, enums as numbers, 64-bit integers as numbers). */
export type Decoded = Record<string, unknown>

export interface ProxyConfigProblem {
  /** The path of the field as written, e.g. `tracing.sampling`, `extraStatTags[1]`; '' for the whole value. */
  field: string
  reason: string
}

export interface ProxyConfigResult {
  /** The fields the pod sets, decoded (over no defaults). */
  config: Decoded
  problems: ProxyConfigProblem[]
  /** Paths of fields ProxyConfig does not have: Istio ignores them, and so do we. */
  unknown: string[]
}

/** Decodes and validates a parsed proxy.istio.io/config value (null: the empty ProxyConfig). */
export function readProxyConfig (doc: unknown): ProxyConfigResult {
  const out: ProxyConfigResult = { config: {}, problems: [], unknown: [] }
  if (doc === null || doc === undefined) return out
  if (!isRecord(doc)) {
    out.problems.push({ field: '', reason: 'must be a ProxyConfig mapping' })
    return out
  }
  const decoder = new Decoder()
  out.config = decoder.message('ProxyConfig', doc, '')
  out.unknown = decoder.unknown
  // Istio stops at a decoding error; only a decoded ProxyConfig is validated.
  out.problems = decoder.problems.length > 0 ? decoder.problems : validateProxyConfig(out.config)
  return out
}

const int32Range = [-(2 ** 31), 2 ** 31 - 1] as const
const uint32Range = [0, 2 ** 32 - 1] as const
const int64Range = [-(2 ** 63), 2 ** 63] as const // exclusive upper bound: 2^63 is not representable below it as a double

const intRanges: Record<string, readonly [number, number]> = {
  int32: int32Range, Int32Value: int32Range, uint32: uint32Range, int64: int64Range, Int64Value: int64Range
}

/** Field paths in a refusal are cut to this length (a map key is the pod author's, and may be long). */
const maxPathLength = 128

class Decoder {
  readonly problems: ProxyConfigProblem[] = []
  readonly unknown: string[] = []

  /** A problem at `field`; a path made of long keys is cut, so that the refusal stays short. */
  private fail (field: string, reason: string): undefined {
    this.problems.push({ field: field.length > maxPathLength ? `${field.slice(0, maxPathLength)}…` : field, reason })
    return undefined
  }

  /** jsonpb's unmarshalMessage: each field by its proto name, then its JSON name (which wins); the rest is unknown. */
  message (name: string, value: Record<string, unknown>, path: string): Decoded {
    const spec = messages[name]
    if (spec === undefined) throw new Error(`no ProxyConfig schema for ${name}`)
    const seen = new Set<string>()
    const out: Decoded = {}
    for (const [proto, type] of Object.entries(spec.fields)) {
      const json = jsonName(proto)
      let key: string | undefined
      if (Object.hasOwn(value, proto)) key = proto
      if (Object.hasOwn(value, json)) key = json
      seen.add(proto).add(json)
      if (key === undefined || value[key] === null) continue
      const decoded = this.value(type, value[key], join(path, key))
      if (decoded === undefined) continue
      // A oneof holds one member: a later one replaces an earlier one.
      for (const members of Object.values(spec.oneofs ?? {})) {
        if (members.includes(proto)) for (const other of members) delete out[jsonName(other)]
      }
      out[json] = decoded
    }
    for (const key of Object.keys(value)) if (!seen.has(key)) this.unknown.push(join(path, key))
    return out
  }

  private value (type: FieldType, value: unknown, path: string): unknown {
    if (type.startsWith('list:')) {
      if (!Array.isArray(value)) return this.fail(path, 'must be a list')
      const element = type.slice(5)
      const items = value.map((v, i) => this.singular(element, v, `${path}[${i}]`))
      return items.includes(undefined) ? undefined : items
    }
    if (type.startsWith('map:')) {
      if (!isRecord(value)) return this.fail(path, 'must be a mapping')
      const element = type.slice(4)
      const entries = Object.entries(value).map(([k, v]) => [k, this.singular(element, v, join(path, k))] as const)
      return entries.some(([, v]) => v === undefined) ? undefined : Object.fromEntries(entries)
    }
    return this.singular(type, value, path)
  }

  /** One value; null in a list or map is the type's zero value (Go's json leaves the zero value in place). */
  private singular (type: FieldType, value: unknown, path: string): unknown {
    if (type.startsWith('msg:')) {
      if (value === null) return {}
      if (!isRecord(value)) return this.fail(path, 'must be a mapping')
      return this.message(type.slice(4), value, path)
    }
    if (type.startsWith('enum:')) {
      const values = enums[type.slice(5)] ?? {}
      if (value === null) return 0
      if (typeof value === 'string') {
        // By name, exactly; a number in quotes is no name.
        if (Object.hasOwn(values, value)) return values[value]
        return this.fail(path, `must be one of ${Object.keys(values).join(', ')}`)
      }
      if (typeof value === 'number' && Number.isInteger(value) && value >= int32Range[0] && value <= int32Range[1]) return value
      return this.fail(path, `must be one of ${Object.keys(values).join(', ')}`)
    }
    switch (type) {
      case 'string':
        if (value === null) return ''
        return typeof value === 'string' ? value : this.fail(path, 'must be a string (quote it)')
      case 'bool':
      case 'BoolValue':
        if (value === null) return false
        return typeof value === 'boolean' ? value : this.fail(path, 'must be true or false (unquoted)')
      case 'double':
        return this.double(value, path)
      case 'duration':
        return this.duration(value, path)
      default: {
        const range = intRanges[type]
        if (range === undefined) throw new Error(`no ProxyConfig decoder for ${type}`)
        return this.integer(value, range, path)
      }
    }
  }

  /** An integer, also in quotes ("16"), as jsonpb takes it; 2.0 is 2 (YAML → JSON writes it so), "2.0" is not. */
  private integer (value: unknown, [min, max]: readonly [number, number], path: string): number | undefined {
    const reason = `must be a whole number from ${min} to ${max === 2 ** 63 ? '2^63-1' : max}`
    let n: number
    if (value === null) return 0
    if (typeof value === 'number') {
      n = value
    } else if (typeof value === 'string') {
      // The quotes are stripped and the rest read as a JSON integer literal; JSON escapes every other
      // whitespace character inside a string, so only spaces can surround it.
      const text = value.replace(/^ +| +$/g, '')
      if (text === 'null') return 0
      if (!/^-?(0|[1-9]\d*)$/.test(text)) return this.fail(path, reason)
      n = Number(text)
    } else {
      return this.fail(path, reason)
    }
    if (!Number.isInteger(n) || n < min || (max === 2 ** 63 ? n >= max : n > max)) return this.fail(path, reason)
    return n === 0 ? 0 : n
  }

  private double (value: unknown, path: string): number | undefined {
    const reason = 'must be a number (or "NaN", "Infinity", "-Infinity")'
    if (value === null) return 0
    if (typeof value === 'number') return Number.isFinite(value) ? value : this.fail(path, reason)
    if (typeof value !== 'string') return this.fail(path, reason)
    if (value === 'NaN') return NaN
    if (value === 'Infinity') return Infinity
    if (value === '-Infinity') return -Infinity
    const text = value.replace(/^ +| +$/g, '')
    if (text === 'null') return 0
    if (!/^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?$/.test(text)) return this.fail(path, reason)
    const n = Number(text)
    return Number.isFinite(n) ? n : this.fail(path, reason)
  }

  private duration (value: unknown, path: string): bigint | undefined {
    if (typeof value !== 'string') return this.fail(path, 'must be a duration such as 5s, 1m30s or 500ms (a number needs a unit)')
    const parsed = parseGoDuration(value)
    if (typeof parsed === 'string') return this.fail(path, `must be a duration such as 5s, 1m30s or 500ms (${parsed})`)
    return parsed
  }
}

function join (path: string, key: string): string {
  return path === '' ? key : `${path}.${key}`
}

// µs is the micro sign (U+00B5), μs the Greek mu (U+03BC): Go accepts both.
const unitNanos: Record<string, bigint> = {
  ns: 1n, us: 1_000n, µs: 1_000n, μs: 1_000n, ms: 1_000_000n, s: 1_000_000_000n, m: 60_000_000_000n, h: 3_600_000_000_000n
}
const maxDuration = 2n ** 63n

/**
 * Go's time.ParseDuration (what jsonpb uses for google.protobuf.Duration): `[-+]?([0-9]*(\.[0-9]*)?[a-z]+)+`,
 * units ns, us/µs, ms, s, m, h, "0" alone, at most 2^63-1 ns. Returns nanoseconds or why not.
 * https://pkg.go.dev/time#ParseDuration
 */
export function parseGoDuration (text: string): bigint | string {
  let s = text
  let negative = false
  if (s.startsWith('-') || s.startsWith('+')) {
    negative = s.startsWith('-')
    s = s.slice(1)
  }
  if (s === '0') return 0n
  if (s === '') return 'empty'
  let total = 0n
  while (s !== '') {
    const m = /^(\d*)(?:\.(\d*))?/.exec(s)
    const whole = m?.[1] ?? ''
    const fraction = m?.[2]
    if (whole === '' && (fraction === undefined || fraction === '')) return 'a number is missing'
    s = s.slice(m?.[0].length ?? 0)
    let unitEnd = 0
    while (unitEnd < s.length && !/[0-9.]/.test(s.charAt(unitEnd))) unitEnd++
    if (unitEnd === 0) return 'a unit is missing'
    const unit = unitNanos[s.slice(0, unitEnd)]
    if (unit === undefined) return 'an unknown unit; use ns, us, ms, s, m or h'
    s = s.slice(unitEnd)
    let v = BigInt(whole === '' ? '0' : whole)
    if (v > maxDuration / unit) return 'too long'
    v *= unit
    if (fraction !== undefined && fraction !== '') {
      // Go keeps at most 19 significant fraction digits and scales with a float64, truncating.
      const digits = fraction.slice(0, 19)
      v += BigInt(Math.trunc(Number(`0.${digits}`) * Number(unit)))
      if (v > maxDuration) return 'too long'
    }
    total += v
    if (total > maxDuration) return 'too long'
  }
  if (negative) return -total
  if (total > maxDuration - 1n) return 'too long'
  return total
}

/** Istio's DefaultProxyConfig (pkg/config/mesh/mesh.go): what the annotation is applied over before validation. */
const defaults = {
  configPath: './etc/istio/proxy',
  binaryPath: '/usr/local/bin/envoy',
  serviceCluster: 'istio-proxy',
  drainDuration: 45_000_000_000n,
  proxyAdminPort: 15000,
  controlPlaneAuthPolicy: 1,
  discoveryAddress: 'istiod.istio-system.svc:15012',
  statusPort: 15020
}

const ms = 1_000_000n
const second = 1_000_000_000n

/** ValidateMeshConfigProxyConfig over the defaults with the pod's fields applied; field paths are the JSON names. */
function validateProxyConfig (pc: Decoded): ProxyConfigProblem[] {
  const problems: ProxyConfigProblem[] = []
  const add = (field: string, reason: string | undefined): void => { if (reason !== undefined) problems.push({ field, reason }) }
  const str = (m: Decoded | undefined, key: string): string => typeof m?.[key] === 'string' ? m[key] : ''
  const msg = (m: Decoded | undefined, key: string): Decoded | undefined => isRecord(m?.[key]) ? m[key] : undefined
  const get = <K extends keyof typeof defaults>(key: K): typeof defaults[K] => (pc[key] ?? defaults[key]) as typeof defaults[K]

  if (get('configPath') === '') add('configPath', 'must be set')
  if (get('binaryPath') === '') add('binaryPath', 'must be set')
  if (!Object.hasOwn(pc, 'tracingServiceName') && get('serviceCluster') === '') add('serviceCluster', 'must be set')
  const drain = get('drainDuration')
  if (drain < ms) add('drainDuration', 'must be at least 1ms')
  else if (drain % ms !== 0n) add('drainDuration', 'only durations to ms precision are supported')
  else if (drain % second !== 0n) add('drainDuration', 'must be whole seconds')
  const discovery = get('discoveryAddress')
  add('discoveryAddress', discovery === '' ? 'must be set' : checkProxyAddress(discovery))

  const tracing = msg(pc, 'tracing')
  const lightstep = msg(tracing, 'lightstep')
  if (lightstep !== undefined) {
    if (str(lightstep, 'address') === '') add('tracing.lightstep.address', 'is required')
    add('tracing.lightstep.address', checkProxyAddress(str(lightstep, 'address')))
    if (str(lightstep, 'accessToken') === '') add('tracing.lightstep.accessToken', 'is required')
  }
  for (const tracer of ['zipkin', 'datadog']) {
    const t = msg(tracing, tracer)
    // The agent puts the node's IP in place of $(HOST_IP).
    if (t !== undefined) add(`tracing.${tracer}.address`, checkProxyAddress(str(t, 'address').replace('$(HOST_IP)', '127.0.0.1')))
  }
  const tls = msg(tracing, 'tlsSettings')
  if (tls !== undefined) for (const reason of checkClientTLS(tls)) add('tracing.tlsSettings', reason)

  for (const key of ['statsdUdpAddress', 'envoyMetricsServiceAddress']) {
    if (str(pc, key) !== '') add(key, checkProxyAddress(str(pc, key)))
  }
  for (const key of ['envoyMetricsService', 'envoyAccessLogService']) {
    const address = str(msg(pc, key), 'address')
    if (address !== '') add(`${key}.address`, checkProxyAddress(address))
  }
  add('proxyAdminPort', checkPort(get('proxyAdminPort')))
  const policy = get('controlPlaneAuthPolicy')
  if (policy !== 0 && policy !== 1) add('controlPlaneAuthPolicy', 'must be NONE or MUTUAL_TLS')
  add('statusPort', checkPort(get('statusPort')))

  const provider = msg(pc, 'privateKeyProvider')
  if (provider !== undefined) {
    const name = ['cryptomb', 'qat'].find(k => msg(provider, k) !== undefined)
    if (name === undefined) add('privateKeyProvider', 'must set cryptomb or qat')
    else {
      const delay = msg(provider, name)?.pollDelay
      if (delay === undefined) add(`privateKeyProvider.${name}.pollDelay`, 'is required')
      else if (delay === 0n) add(`privateKeyProvider.${name}.pollDelay`, 'must not be zero')
    }
  }
  const cs = msg(pc, 'connectionSettings')
  if (cs !== undefined) {
    const at = (key: string): string => `connectionSettings.${key}`
    const n = (key: string): number | undefined => typeof cs[key] === 'number' ? cs[key] : undefined
    for (const key of ['listenerPerConnectionBufferLimitBytes', 'clusterPerConnectionBufferLimitBytes']) {
      if ((n(key) ?? 0) < 0) add(at(key), 'must not be negative')
    }
    for (const key of ['httpIdleTimeout', 'httpMaxConnectionDuration', 'httpDrainTimeout', 'httpRequestTimeout', 'httpRequestHeadersTimeout', 'httpStreamIdleTimeout', 'httpMaxStreamDuration']) {
      if (typeof cs[key] === 'bigint' && cs[key] < 0n) add(at(key), 'must not be negative')
    }
    for (const key of ['httpMaxConcurrentStreams', 'listenerConnectionLimit', 'globalDownstreamConnectionLimit']) {
      const v = n(key)
      if (v !== undefined && v <= 0) add(at(key), 'must be positive')
    }
    for (const key of ['http2InitialStreamWindowSize', 'http2InitialConnectionWindowSize']) {
      const v = n(key)
      if (v !== undefined && v < 65535) add(at(key), 'must be at least 65535')
    }
  }
  return problems
}

function checkPort (port: number): string | undefined {
  return port >= 1 && port <= 65535 ? undefined : 'must be a port from 1 to 65535'
}

/** Istio's ValidateProxyAddress: host:port, the host a DNS-1123 name or an IP address. */
function checkProxyAddress (address: string): string | undefined {
  const split = splitHostPort(address)
  if (typeof split === 'string') return `must be host:port (${split})`
  // strconv.Atoi: an optional sign and decimal digits.
  if (!/^[+-]?\d+$/.test(split.port)) return 'must be host:port with a numeric port'
  if (checkPort(Number(split.port)) !== undefined) return 'must have a port from 1 to 65535'
  if (isFQDN(split.host) || isIPAddress(split.host)) return undefined
  return 'must have a valid hostname or IP address'
}

/** Go's net.SplitHostPort. https://pkg.go.dev/net#SplitHostPort */
function splitHostPort (hostport: string): { host: string, port: string } | string {
  const i = hostport.lastIndexOf(':')
  if (i < 0) return 'missing port'
  let host: string
  let j = 0
  let k = 0
  if (hostport.startsWith('[')) {
    const end = hostport.indexOf(']')
    if (end < 0) return "missing ']'"
    if (end + 1 === hostport.length) return 'missing port'
    if (end + 1 !== i) return hostport.charAt(end + 1) === ':' ? 'too many colons' : 'missing port'
    host = hostport.slice(1, end)
    j = 1
    k = end + 1
  } else {
    host = hostport.slice(0, i)
    if (host.includes(':')) return 'too many colons'
  }
  if (hostport.slice(j).includes('[')) return "unexpected '['"
  if (hostport.slice(k).includes(']')) return "unexpected ']'"
  return { host, port: hostport.slice(i + 1) }
}

/** Istio's ValidateFQDN: at most 255 characters, DNS-1123 labels (Istio's allow upper case), the last one not all digits (a trailing dot allowed). */
function isFQDN (name: string): boolean {
  if (name.length === 0 || name.length > 255) return false
  const parts = name.split('.')
  if (/^[+-]?\d+$/.test(parts.at(-1) ?? '')) return false
  return parts.every((label, i) => (i === parts.length - 1 && label === '') || /^[a-zA-Z0-9]([-a-zA-Z0-9]{0,61}[a-zA-Z0-9])?$/.test(label))
}

/** Go's netip.ParseAddr: an IPv4 or IPv6 address, IPv6 with an optional non-empty zone. */
function isIPAddress (text: string): boolean {
  const zone = text.indexOf('%')
  if (zone >= 0) return zone < text.length - 1 && isIP(text.slice(0, zone)) === 6
  return isIP(text) !== 0
}

/** Istio's ValidateTLS for a ClientTLSSettings outside any namespace (tracing's). */
function checkClientTLS (tls: Decoded): string[] {
  const problems: string[] = []
  const s = (key: string): string => typeof tls[key] === 'string' ? tls[key] : ''
  const mode = tls.mode ?? 0
  // An empty list decodes to no list in Go.
  const hasSANs = Array.isArray(tls.subjectAltNames) && tls.subjectAltNames.length > 0
  if (s('credentialName').startsWith('configmap://')) problems.push('a configmap:// credentialName needs a namespace, which a ProxyConfig has not')
  if (tls.insecureSkipVerify === true) {
    if (mode === 1 && (s('caCertificates') !== '' || s('credentialName') !== '' || hasSANs)) {
      problems.push('cannot specify caCertificates, credentialName or subjectAltNames when insecureSkipVerify is true')
    }
    if (mode === 2 && (s('caCertificates') !== '' || hasSANs)) {
      problems.push('cannot specify caCertificates or subjectAltNames when insecureSkipVerify is true')
    }
  }
  if ((mode === 1 || mode === 2) && s('credentialName') !== '') {
    if (s('clientCertificate') !== '' || s('caCertificates') !== '' || s('privateKey') !== '' || s('caCrl') !== '') {
      problems.push('cannot specify client certificates, CA certificates or a CA CRL when credentialName is set')
    }
    return problems
  }
  if (mode === 2) {
    if (s('clientCertificate') === '') problems.push('clientCertificate is required for MUTUAL')
    if (s('privateKey') === '') problems.push('privateKey is required for MUTUAL')
  }
  return problems
}

/** An enum value's name, or its number when the schema has no name for it (as Go's String() prints it). */
export function enumName (enumType: string, value: unknown): string {
  const names = enums[enumType] ?? {}
  const found = Object.entries(names).find(([, n]) => n === value)
  return found?.[0] ?? String(value)
}

/** The fields istiod leaves out of PROXY_CONFIG when they equal DefaultProxyConfig's (cleanProxyConfig in template.go). */
const cleaned: Record<string, unknown> = {
  configPath: defaults.configPath,
  binaryPath: defaults.binaryPath,
  controlPlaneAuthPolicy: defaults.controlPlaneAuthPolicy,
  serviceCluster: defaults.serviceCluster,
  drainDuration: defaults.drainDuration,
  terminationDrainDuration: 5_000_000_000n,
  discoveryAddress: defaults.discoveryAddress,
  proxyAdminPort: defaults.proxyAdminPort,
  statNameLength: 189,
  statusPort: defaults.statusPort
}

/**
 * The pod's ProxyConfig fields as istiod writes them into the proxy's PROXY_CONFIG: proto JSON
 * (durations "1.500s", 64-bit integers in quotes, enums by name), zero values of plain fields left out,
 * and the fields equal to Istio's defaults left out.
 * https://protobuf.dev/programming-guides/json/
 */
export function proxyConfigJson (config: Decoded): Record<string, unknown> {
  const out = messageJson('ProxyConfig', config)
  for (const [key, value] of Object.entries(cleaned)) {
    if (config[key] === value) delete out[key]
  }
  return out
}

function messageJson (name: string, value: Decoded): Record<string, unknown> {
  const spec = messages[name] ?? { fields: {} }
  const oneofMembers = new Set(Object.values(spec.oneofs ?? {}).flat())
  const out: Record<string, unknown> = {}
  for (const [proto, type] of Object.entries(spec.fields)) {
    const key = jsonName(proto)
    if (!Object.hasOwn(value, key)) continue
    const v = value[key]
    if (type.startsWith('list:')) {
      if (Array.isArray(v) && v.length > 0) out[key] = v.map(item => singularJson(type.slice(5), item))
    } else if (type.startsWith('map:')) {
      if (isRecord(v) && Object.keys(v).length > 0) out[key] = Object.fromEntries(Object.entries(v).map(([k, item]) => [k, singularJson(type.slice(4), item)]))
    } else if (oneofMembers.has(proto) || !isZero(type, v)) {
      out[key] = singularJson(type, v)
    }
  }
  return out
}

/** Plain proto3 fields are written only when not zero; messages, wrappers and durations whenever set. */
function isZero (type: FieldType, v: unknown): boolean {
  if (type.startsWith('msg:') || type.endsWith('Value') || type === 'duration') return false
  return v === '' || v === false || v === 0
}

function singularJson (type: FieldType, v: unknown): unknown {
  if (type.startsWith('msg:')) return messageJson(type.slice(4), isRecord(v) ? v : {})
  if (type.startsWith('enum:')) return enumName(type.slice(5), v) === String(v) ? v : enumName(type.slice(5), v)
  if (type === 'duration') return typeof v === 'bigint' ? formatDuration(v) : v
  if (type === 'int64' || type === 'Int64Value') return String(v)
  if (typeof v === 'number' && !Number.isFinite(v)) return Number.isNaN(v) ? 'NaN' : v > 0 ? 'Infinity' : '-Infinity'
  return v
}

/** A duration as proto JSON writes it: seconds with 0, 3, 6 or 9 fraction digits, e.g. 90s, 1.500s. */
export function formatDuration (nanos: bigint): string {
  const sign = nanos < 0n ? '-' : ''
  const abs = nanos < 0n ? -nanos : nanos
  const fraction = (abs % second).toString().padStart(9, '0').replace(/(000)+$/, '')
  return `${sign}${abs / second}${fraction === '' ? '' : `.${fraction}`}s`
}
