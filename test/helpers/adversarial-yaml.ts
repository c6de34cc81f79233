// A generated corpus of manifests that YAML 1.1 and YAML 1.2 readers disagree on, or that are easy to
// write back wrong: every special scalar spelling, numbers in every base, block scalars, anchors,
// aliases and merge keys, CRLF, a byte order mark, tabs, '---' inside strings, long lines and
// non-ASCII text — in untouched documents, in the untouched parts of injected workloads, and in the
// subtrees injection rewrites (app probes, template labels and annotations, container lists).
/* eslint-disable no-control-regex -- control characters are what these patterns are about */
import type { Source } from '../../src/workloads/templates.js'

/** Spellings kubectl (go-yaml v2) reads as booleans, nulls or numbers when plain, or that other readers do. */
export const specialSpellings = [
  'y', 'Y', 'yes', 'Yes', 'YES', 'n', 'N', 'no', 'No', 'NO', 'on', 'On', 'ON', 'off', 'Off', 'OFF',
  'true', 'True', 'TRUE', 'false', 'False', 'FALSE', 'yEs', 'oN', 'nO', 'tRUE',
  '~', 'null', 'Null', 'NULL', 'nULL', '',
  '0400', '0755', '0600', '0o17', '0O17', '0x1F', '0X1f', '+0x10', '-0x1F', '0b101', '0B11', '-0b11',
  '1_000', '1__0', '0_', '+_1', '1_.5', '0.1_5', '1e3', '1E3', '1.e3', '1e3_0', '.5', '-.5', '+.5', '1.', '0.', '-0', '+1',
  '08', '0778', '0009', '012345678901234567890123', '99999999999999999999', '18446744073709551615',
  '9223372036854775807', '-9223372036854775808', '1e400', '0x1FFFFFFFFFFFFFFFFF', '1e21', '1e-7',
  '.inf', '-.Inf', '+.INF', '.nan', '.NaN', '.iNf', 'NaN', 'Infinity',
  '1:20', '190:20:30', '-1:30', '1:20.5', '2001-12-14', '2001-12-14t21:59:43.10-05:00', '2001-12-14 21:59:43.10',
  '=', '<<', '._5', '0.5.5', '1e', '1.5e', '0x', '0o', '0b', '.', '-', '--', '---', '...', '- x', '? x', ': x',
  '#x', 'a #b', 'a# b', 'a: b', 'a:b', ':a', '?x', '-x', '--debug=1', '@x', '`x', '%x', '!x', '&x', '*x', '|x', '>x',
  '[x', ']x', '{x', '}x', ',x', 'x,', 'x]', '"x', "'x", "it's", 'say "hi"', 'back\\slash', ' lead', 'trail ', '\ttab', 'a\tb',
  'a\nb', 'a\n', 'a\n\n', 'line1\n  indented', 'x\n---\ny', 'x\n...\ny', '\u0085nel', 'ls\u2028ps\u2029', 'bom\ufeffinside',
  'héllo', '日本語', '😀 emoji', 'עברית', 'zero\u200bwidth', '{"a":1}', '[1,2]', 'x'.repeat(5000),
  'ctl\u0001\u007f', 'del\u0080c1'
]

/** A double-quoted YAML string: JSON's escapes, plus escapes for DEL and C1 controls (kubectl refuses them raw), NEL, LS and PS (line breaks to YAML 1.1) and the BOM. */
function yamlDoubleQuoted (text: string): string {
  return JSON.stringify(text).replace(/[\u007f-\u009f\u2028\u2029\ufeff]/g, c => ({ '\u0085': '\\N', '\u2028': '\\L', '\u2029': '\\P' })[c] ?? `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)
}

/** Spellings that can be written as a plain scalar value in block context (kubectl decides what each is). */
const plainable = specialSpellings.filter(s =>
  s !== '' && !/^[\s?:,[\]{}#&*!|>'"%@`]|^-(\s|$)|^---|^\.\.\.|[\n\t\r]|: | #|\s$/.test(s) &&
  !/[\u0000-\u001f\u007f-\u009f\u2028\u2029\ufeff]/.test(s) &&
  // kubectl refuses the whole document for these (JSON has no infinity or NaN): see the error test.
  !/^[-+]?\.(inf|nan)$/i.test(s))

/** A ConfigMap with every spelling plain (kubectl decides what each is) and quoted (all strings). */
function configMaps (): string {
  const plain = plainable.map((s, i) => `  plain${i}: ${s}`).join('\n')
  const strings = specialSpellings.map((s, i) => `  quoted${i}: ${yamlDoubleQuoted(s)}`).join('\n')
  return [
    '# untouched documents are written back byte for byte',
    'apiVersion: v1',
    'kind: Widget',
    'metadata: {name: plain-spellings}',
    'spec:',
    plain,
    '---',
    'apiVersion: v1',
    'kind: ConfigMap',
    'metadata:',
    '  name: quoted-spellings   # every one a string',
    'data:',
    strings,
    ''
  ].join('\n')
}

/** A Deployment whose untouched parts and whose rewritten subtrees hold every spelling as a string. */
function deployment (name: string, values: readonly string[]): string {
  const env = values.map((s, i) => `            - name: V${i}\n              value: ${yamlDoubleQuoted(s)}`).join('\n')
  const headers = values.slice(0, 40).map((s, i) => `                  - {name: H${i}, value: ${yamlDoubleQuoted(s)}}`).join('\n')
  const annotations = values.filter(s => !s.includes('\n')).slice(0, 60).map((s, i) => `        note.example.com/a${i}: ${yamlDoubleQuoted(s)}`).join('\n')
  return `# ${name}: comments, flow style and quoting outside the injected subtrees stay as they are
apiVersion: apps/v1
kind: Deployment
metadata:
  name: ${name}
  labels: {app: ${name}, legacy: "yes", tier: 'on'}   # flow style kept
  annotations:
    octal: "0400"
spec:
  replicas: 1
  selector:
    matchLabels: {app: ${name}}
  template:
    metadata:
      labels:
        app: ${name}
        legacy: "yes"     # a quoted YAML 1.1 boolean
        enabled: "on"
      annotations:
${annotations}
    spec:
      containers:
        - name: app
          image: example.com/${name}:1
          ports: [{containerPort: 8080, name: http}]
          env:
${env}
          readinessProbe:
            httpGet:
              path: /healthz
              port: 8080
              httpHeaders:
${headers}
          livenessProbe:
            httpGet: {path: "/live", port: http, httpHeaders: [{name: X, value: "no"}]}
      volumes:
        - name: secret
          secret:
            secretName: s
            defaultMode: 0400   # octal: 256, as kubectl reads it
        - name: config
          configMap: {name: c, defaultMode: 0755}
`
}

/** Anchors, aliases and merge keys, also where injection edits. */
const anchors = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: anchored
  labels: &labels
    app: anchored
    version: "1.0"
spec:
  selector:
    matchLabels: *labels
  template:
    metadata:
      labels: *labels
    spec:
      containers:
        - &app
          name: app
          image: example.com/app:1
          env: &env
            - {name: A, value: "off"}
        - <<: *app
          name: second
          env: *env
          readinessProbe: &probe
            httpGet: {path: /ready, port: 8080}
        - name: third
          image: example.com/third:1
          <<: {imagePullPolicy: IfNotPresent, workingDir: /w}
          livenessProbe: *probe
`

/** Block scalars, including ones that end the mappings injection appends to. */
const blockScalars = `apiVersion: v1
kind: Pod
metadata:
  name: block-scalars
  annotations:
    folded: >
      folded text
      on two lines
    kept: |+
      keep the trailing lines


    last: |-
      strip
spec:
  containers:
    - name: app
      image: example.com/app:1
      command: ["sh", "-c"]
      args:
        - |
          echo "--- not a document marker"
          echo '...' # not a comment
          exit 0
  volumes:
    - name: last
      emptyDir: {}
      # a comment after the last volume
# a comment after the document
`

/** Tabs (in values and before comments), very long lines, non-ASCII, '---' inside strings, '...' document ends. */
const oddities = `apiVersion: v1
kind: Pod
metadata:
  name: oddities
  labels: {app: "日本語", emoji: "😀"}
  annotations:
    tabbed: a\tb\t# tab before a comment
    long: ${'l'.repeat(10000)}
    dashes: "---"
    marker: "line\\n---\\nline"
spec:
  containers: [{name: app, image: "example.com/app:1", args: ["--", "---", "...", "-x"]}]
...
---
apiVersion: v1
kind: Pod
metadata: {name: flow-only, annotations: {}}
spec: {containers: [{name: app, image: example.com/app:1}], volumes: []}
`

/** The corpus, one Source per file. */
export function adversarialSources (): Source[] {
  const crlf = deployment('crlf', specialSpellings.slice(0, 30)).replaceAll('\n', '\r\n')
  return [
    { name: 'adversarial/spellings.yaml', text: configMaps() },
    { name: 'adversarial/deployment.yaml', text: deployment('strings', specialSpellings) },
    { name: 'adversarial/bom-crlf.yaml', text: `\ufeff${crlf}` },
    { name: 'adversarial/anchors.yaml', text: anchors },
    { name: 'adversarial/block-scalars.yaml', text: blockScalars },
    { name: 'adversarial/oddities.yaml', text: oddities }
  ]
}
