#!/usr/bin/env node
// The `sidecar-injector` binary: dispatches to one command module. The only module that touches
// `process`: commands get their streams, environment and signals through CliIo.
import { enableCompileCache } from 'node:module'
import { describeError } from './cli/errors.js'
import type { CliCommand, CliIo } from './cli/io.js'
import { UsageError } from './cli/io.js'
import { packageVersion } from './version.js'

// V8's code cache for every module loaded from here on (serve: fastify, pino, prom-client; inject:
// the command modules and yaml): less compiling at each start, measured by `make bench`
// (BENCHMARKS.md, start-up levers; docs/cli.md, "YAML fidelity"). In the directory NODE_COMPILE_CACHE
// names (the image bakes one at build time), else in the OS temp directory; never fatal.
// https://nodejs.org/api/module.html#moduleenablecompilecachecachedir
enableCompileCache()

type Loader = () => Promise<{ run: CliCommand }>

// Commands are loaded lazily so that `capture` in the init container does not load fastify.
const commands: Record<string, { summary: string, load: Loader }> = {
  inject: { summary: 'inject the sidecar into manifests (Pods and workload templates; files, directories or stdin)', load: () => import('./cli/inject.js') },
  explain: { summary: 'say why each workload does (not) get a sidecar, and with which settings', load: () => import('./cli/explain.js') },
  uninject: { summary: 'remove what was injected, restoring the manifests as they were', load: () => import('./cli/uninject.js') },
  serve: { summary: 'run the webhook: HTTPS AdmissionReview endpoint with probes, metrics, hot reload', load: () => import('./cli/serve.js') },
  certs: { summary: 'write a CA and a serving certificate for the webhook Service (ca.crt, tls.crt, tls.key)', load: () => import('./cli/certs.js') },
  manifests: { summary: 'render the install manifests for a namespace, image and caBundle (pipe into kubectl apply -f -)', load: () => import('./cli/manifests.js') },
  audit: { summary: 'find pods whose sidecar is missing, stale, foreign or at risk; --restart rolls their workloads', load: () => import('./cli/audit.js') },
  capture: { summary: 'write the iptables rules that send the pod\'s traffic through the proxy (init container)', load: () => import('./cli/capture.js') }
}

function usage (): string {
  const lines = Object.entries(commands).map(([name, c]) => `  ${name.padEnd(10)} ${c.summary}`)
  return `usage: sidecar-injector <command> [flags]\n\ncommands:\n${lines.join('\n')}\n\nRun 'sidecar-injector <command> --help' for the flags of a command; --version prints the version.\n`
}

async function main (argv: readonly string[]): Promise<number> {
  const io: CliIo = {
    stdout: text => { process.stdout.write(text) },
    drain: async () => {
      const out = process.stdout
      if (!out.writableNeedDrain) return
      // An error or a closed pipe (| head) must not leave us waiting for a drain that never comes.
      await new Promise<void>(resolve => {
        const done = (): void => {
          out.off('drain', done).off('error', done).off('close', done)
          resolve()
        }
        out.once('drain', done).once('error', done).once('close', done)
      })
    },
    stderr: text => { process.stderr.write(text) },
    env: process.env,
    // Only commands that read stdin pay for making its stream.
    get stdin () { return process.stdin },
    cwd: process.cwd(),
    onSignal: handler => {
      process.on('SIGTERM', handler)
      process.on('SIGINT', handler)
    },
    exit: code => process.exit(code),
    onExit: handler => { process.on('exit', handler) }
  }
  const [name, ...args] = argv
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    io.stdout(usage())
    return name === undefined ? 2 : 0
  }
  if (name === '--version' || name === 'version') {
    io.stdout(`sidecar-injector ${packageVersion} (node ${process.versions.node})\n`)
    return 0
  }
  const command = commands[name]
  if (command === undefined) {
    io.stderr(`sidecar-injector: unknown command '${name}'\n\n${usage()}`)
    return 2
  }
  try {
    const { run } = await command.load()
    return await run(args, io)
  } catch (err) {
    if (err instanceof UsageError) {
      io.stderr(`sidecar-injector ${name}: ${err.message}\n`)
      return 2
    }
    // Anything else is one line too; SIDECAR_INJECTOR_DEBUG=1 adds the stack for a bug report.
    io.stderr(`sidecar-injector ${name}: ${describeError(err)}\n`)
    if (io.env.SIDECAR_INJECTOR_DEBUG === '1' && err instanceof Error && err.stack !== undefined) io.stderr(`${err.stack}\n`)
    return 1
  }
}

process.exitCode = await main(process.argv.slice(2))
