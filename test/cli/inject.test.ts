import t from 'tap'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { parseAllDocuments } from 'yaml'
import { run as explain } from '../../src/cli/explain.js'
import { run as inject } from '../../src/cli/inject.js'
import { UsageError } from '../../src/cli/io.js'
import { run as uninject } from '../../src/cli/uninject.js'
import { captureIo } from '../helpers/cli-io.js'

const root = join(import.meta.dirname, '..', '..')
const kinds = (text: string): unknown[] => parseAllDocuments(text).map(d => (d.toJS() as { kind: string }).kind)

t.test('inject reads a file and prints the injected manifests', async t => {
  const io = captureIo({ cwd: root })
  t.equal(await inject(['-f', 'examples/bookinfo/pods.yaml'], io), 0)
  t.equal(io.out(), readFileSync(join(root, 'examples/bookinfo/injected/pods.yaml'), 'utf8'))
  t.equal(io.err(), '')
})

t.test('inject reads stdin, directories and several -f; skipped pods are printed unchanged with the reason on stderr', async t => {
  const pod = 'apiVersion: v1\nkind: Pod\nmetadata:\n  name: out\n  labels: { sidecar.istio.io/inject: "false" }\nspec:\n  containers: [{ name: a, image: a }]\n'
  const io = captureIo({ stdin: pod, cwd: root })
  t.equal(await inject(['-f', '-'], io), 0)
  t.equal(io.out(), pod, 'unchanged')
  t.match(io.err(), /Pod default\/out \(<stdin>, document 1\): skipped: the pod's label sidecar\.istio\.io\/inject is "false" \[label-false\]/)

  const dir = captureIo({ cwd: root })
  t.equal(await inject(['-f', 'examples/bookinfo', '-f', 'test/fixtures/manifests/list.json'], dir), 0)
  t.ok(kinds(dir.out()).length > 10, 'every file of the directory, then the list')
})

t.test('--native, --classic, -o json and --config', async t => {
  const native = captureIo({ cwd: root })
  await inject(['-f', 'test/fixtures/pods/simple.yaml', '--native', '-o', 'json'], native)
  const pod = JSON.parse(native.out()) as { spec: { initContainers: Array<{ name: string, restartPolicy?: string }> } }
  t.same(pod.spec.initContainers.map(c => [c.name, c.restartPolicy]), [['istio-init', undefined], ['istio-proxy', 'Always']])

  const classic = captureIo({ cwd: root })
  await inject(['-f', 'test/fixtures/pods/simple.yaml', '--classic', '-o', 'json'], classic)
  t.equal((JSON.parse(classic.out()) as { spec: { initContainers: unknown[] } }).spec.initContainers.length, 1)

  const withConfig = captureIo({ cwd: root })
  t.equal(await inject(['-f', 'test/fixtures/pods/simple.yaml', '--config', 'test/fixtures/config/disabled.yaml'], withConfig), 0)
  t.match(withConfig.err(), /skipped: .*\[policy-disabled\]/)
})

t.test('errors: usage, unreadable input, bad config, rejected workloads, invalid YAML', async t => {
  await t.rejects(inject([], captureIo()), UsageError, '-f is required')
  await t.rejects(inject(['-f', 'x', '--native', '--classic'], captureIo()), UsageError)
  await t.rejects(inject(['-f', 'x', '-o', 'xml'], captureIo()), UsageError)
  await t.rejects(inject(['-f', 'x', '--unknown'], captureIo()), UsageError)
  await t.rejects(inject(['-f', 'no/such/file.yaml'], captureIo({ cwd: root })), { message: 'cannot read no/such/file.yaml: no such file or directory' })
  await t.rejects(inject(['-f', '-', '--config', 'test/fixtures/config/invalid.yaml'], captureIo({ cwd: root })),
    { message: /invalid config .*invalid\.yaml: policy: must be one of/ })
  await t.rejects(inject(['-f', '-', '--namespace-labels', 'novalue'], captureIo()), { message: "--namespace-labels: 'novalue' is not key=value" })

  const rejected = captureIo({ cwd: root })
  t.equal(await inject(['-f', 'test/fixtures/manifests/rejected.yaml'], rejected), 1)
  t.equal(rejected.out(), '', 'nothing is half-written')
  t.match(rejected.err(), /error: Deployment default\/bad-ports \(test\/fixtures\/manifests\/rejected\.yaml, document 2\): rejected: invalid value '80,http' for annotation 'traffic\.sidecar\.istio\.io\/excludeInboundPorts'/)

  const invalid = captureIo({ cwd: root })
  t.equal(await inject(['-f', 'test/fixtures/manifests/invalid.yaml'], invalid), 1)
  t.match(invalid.err(), /error: test\/fixtures\/manifests\/invalid\.yaml:6:1: not valid YAML/)

  const help = captureIo()
  t.equal(await inject(['--help'], help), 0)
  t.match(help.out(), /usage: sidecar-injector inject -f/)
})

t.test('uninject gives back the original manifests', async t => {
  const io = captureIo({ cwd: root })
  t.equal(await uninject(['-f', 'examples/bookinfo/injected/bookinfo.yaml'], io), 0)
  const original = parseAllDocuments(readFileSync(join(root, 'examples/bookinfo/bookinfo.yaml'), 'utf8')).map(d => d.toJS() as unknown)
  t.same(parseAllDocuments(io.out()).map(d => d.toJS() as unknown), original)
})

t.test('explain prints one block per workload', async t => {
  const io = captureIo({ cwd: root })
  t.equal(await explain(['-f', 'examples/bookinfo/bookinfo.yaml', '--namespace-labels', 'istio-injection=disabled'], io), 0)
  t.equal(io.out().match(/^\S.*\(examples\/bookinfo\/bookinfo\.yaml, document \d\)$/gm)?.length, 3, 'two Deployments and a CronJob')
  t.match(io.out(), /SKIP \[not-selected\] namespace label istio-injection=disabled selects no webhook entry/)
})
