// The contract with the injection core: every init container in the core's golden injected pods
// (test/fixtures/injected/, written by the core's tests) runs `sidecar-injector capture` with args and
// env that this command accepts, and the annotated pod's args are the ones of our golden
// injected-annotated.rules.
import t from 'tap'
import { readdirSync, readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import YAML from 'yaml'
import { parseCaptureOptions } from '../../src/capture/options.js'
import { annotatedArgs } from './golden-cases.js'

interface Container { name?: string, command?: string[], args?: string[], env?: Array<{ name: string, value?: string }> }

const dir = fileURLToPath(new URL('../fixtures/injected/', import.meta.url))
const files = readdirSync(dir).filter(f => f.endsWith('.yaml'))

t.ok(files.length > 0, 'the core\'s injected fixtures are there')
let seen = 0
for (const file of files) {
  const pod = YAML.parse(readFileSync(`${dir}${file}`, 'utf8')) as { spec?: { initContainers?: Container[] } }
  for (const c of pod.spec?.initContainers ?? []) {
    if (c.command?.join(' ') !== 'sidecar-injector capture') continue
    seen++
    t.test(`${file}: ${c.name ?? ''} args are accepted`, async t => {
      const env = Object.fromEntries((c.env ?? []).map(e => [e.name, e.value ?? '']))
      const parsed = parseCaptureOptions(c.args ?? [], env)
      t.equal(parsed.ok, true, parsed.ok ? 'ok' : parsed.problems.map(p => `${p.code}: ${p.message}`).join('; '))
      t.same(parsed.ok ? parsed.warnings : [], [], 'without warnings')
      if (file.startsWith('annotated.')) t.same(c.args, annotatedArgs, 'the args of golden injected-annotated.rules')
    })
  }
}
t.ok(seen > 0, `${seen} capture init containers checked`)
