// The Dockerfile cannot be built on machines without a Docker engine; these checks hold it to what the
// image promises (Node 24 LTS, production deps only, dist/, iptables, non-root, both roles) and to the
// repository it copies from.
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { defaultConfig } from '../src/core/config.js'
import { loadManifests } from '../src/install/render.js'

const root = join(import.meta.dirname, '..')
const dockerfile = readFileSync(join(root, 'Dockerfile'), 'utf8')
const instructions = dockerfile.split('\n').filter(line => line !== '' && !line.startsWith('#'))
const stages = dockerfile.split(/^FROM /m).slice(1)
const runtime = stages.at(-1) ?? ''
const ignored = readFileSync(join(root, '.dockerignore'), 'utf8').split('\n').filter(l => l !== '' && !l.startsWith('#'))
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { bin: Record<string, string>, engines: { node: string } }

t.test('every stage runs Node 24 LTS', async t => {
  const froms = instructions.filter(l => l.startsWith('FROM '))
  t.equal(froms.length, 2, 'a build stage and a runtime stage')
  for (const from of froms) t.match(from, /^FROM node:24-[a-z-]+( AS \w+)?$/)
})

t.test('the runtime image: production dependencies, dist/, iptables, non-root, the CLI on PATH', async t => {
  t.match(runtime, /npm ci --omit=dev/, 'production dependencies only')
  t.notMatch(runtime, /npm (ci|install)(?! --omit=dev)/, 'no other install')
  t.match(runtime, /COPY --from=build \/src\/dist \.\/dist/)
  t.match(runtime, /apt-get install -y --no-install-recommends iptables iproute2/, 'iptables, and ip for IPv6 pods')
  const user = /^USER (\d+):(\d+)$/m.exec(runtime)
  t.ok(user !== null && Number(user[1]) > 0, 'a numeric non-root user, so that runAsNonRoot can check it')
  const [binName, binPath] = Object.entries(pkg.bin)[0] ?? []
  t.equal(binName, 'sidecar-injector')
  t.match(runtime, new RegExp(`ln -s /app/${binPath ?? ''} /usr/local/bin/${binName ?? ''}`), 'the package bin is on PATH')
  t.match(readFileSync(join(root, 'src/cli.ts'), 'utf8'), /^#!\/usr\/bin\/env node\n/, 'and runnable (shebang)')
  t.match(runtime, /ENTRYPOINT \["sidecar-injector"\]/)
  t.match(runtime, /CMD \["serve"\]/)
})

t.test('the image matches the manifests and the config default', async t => {
  const { objects } = await loadManifests()
  const deployment = objects.find(o => o.kind === 'Deployment')
  const container = deployment?.spec.template.spec.containers[0]
  const user = /^USER (\d+):(\d+)$/m.exec(runtime)
  t.equal(deployment?.spec.template.spec.securityContext.runAsUser, Number(user?.[1]), 'the Deployment runs as the image user')
  t.equal(container.args[0], 'serve', 'the Deployment passes a command to the entrypoint')
  t.equal(container.image, defaultConfig().images.init, 'the injected init container uses the same image')
  t.match(dockerfile, new RegExp(`docker build -t ${container.image as string} \\.`), 'the documented build tags that image')
  const exposed = /^EXPOSE (.+)$/m.exec(runtime)?.[1]?.split(/\s+/).map(Number)
  t.same(exposed, container.ports.map((p: { containerPort: number }) => p.containerPort), 'EXPOSE lists the Deployment\'s ports: webhook, metrics')
})

t.test('every COPY source exists and is not excluded by .dockerignore', async t => {
  for (const line of instructions.filter(l => l.startsWith('COPY ') && !l.includes('--from='))) {
    const sources = line.split(/\s+/).slice(1, -1)
    for (const source of sources) {
      t.ok(existsSync(join(root, source)), `${source} exists`)
      t.notOk(ignored.some(pattern => source === pattern || source.startsWith(`${pattern}/`)), `${source} is sent to the builder`)
    }
  }
  for (const secret of ['certs', 'node_modules', 'dist', '.git']) t.ok(ignored.includes(secret), `${secret} is not sent`)
})
