// `sidecar-injector capture`: the init container's program. Reads Istio-compatible flags, builds the
// rules (src/capture, pure) and applies them with one `iptables-restore --noflush` per family, after
// comparing with `iptables-save` so that a re-run of the init container changes nothing.
import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { networkInterfaces } from 'node:os'
import type { IptablesBinary, LogLevel } from '../capture/options.js'
import { formatCaptureUsage, parseCaptureOptions } from '../capture/options.js'
import { planRestore } from '../capture/reconcile.js'
import type { Ruleset } from '../capture/rules.js'
import { buildRulesets, commandsFor, detectIpv6, renderDryRun } from '../capture/rules.js'
import type { CliCommand, CliIo } from './io.js'
import { UsageError } from './io.js'

export type ExecResult =
  | { readonly status: 'exited', readonly code: number, readonly stdout: string, readonly stderr: string }
  | { readonly status: 'not-found' }

export interface InterfaceAddress {
  readonly name: string
  readonly address: string
  readonly family: string | number
  readonly internal: boolean
}

/** The outside world of the command, a parameter so that tests can run it with fakes. */
export interface CaptureDeps {
  readonly exec: (command: string, args: readonly string[], stdin?: string) => Promise<ExecResult>
  readonly interfaces: () => readonly InterfaceAddress[]
  /** The pod's /etc/resolv.conf, or undefined when there is none. */
  readonly resolvConf: () => string | undefined
  /** The init image's /etc/group, or undefined. */
  readonly groupFile: () => string | undefined
}

const execTimeoutMs = 60_000

export function execCommand (command: string, args: readonly string[], stdin?: string): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] })
    // Not spawn's own `timeout`: its timer is cleared only on 'exit', which a command that is not
    // found never emits, so the process would linger for the whole timeout.
    const timer = setTimeout(() => { child.kill('SIGKILL') }, execTimeoutMs)
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => { stdout += chunk })
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => { stderr += chunk })
    child.on('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer)
      if (err.code === 'ENOENT') resolve({ status: 'not-found' })
      else reject(err)
    })
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      resolve({ status: 'exited', code: code ?? 128, stdout, stderr: signal === null ? stderr : `${stderr}killed by ${signal}\n` })
    })
    // A command that exits before reading its stdin (EPIPE) still reports through 'close'.
    child.stdin.on('error', () => {})
    child.stdin.end(stdin ?? '')
  })
}

export function listInterfaces (): InterfaceAddress[] {
  return Object.entries(networkInterfaces()).flatMap(([name, addresses]) =>
    (addresses ?? []).map(a => ({ name, address: a.address, family: a.family, internal: a.internal })))
}

function readOptional (path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8')
  } catch {
    return undefined
  }
}

export const run: CliCommand = (args, io) => runCapture(args, io, {
  exec: execCommand,
  interfaces: listInterfaces,
  resolvConf: () => readOptional('/etc/resolv.conf'),
  groupFile: () => readOptional('/etc/group')
})

const rank: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3, none: 4 }

type CaptureErrorCode = 'iptables-missing' | 'iptables-save-failed' | 'iptables-refused' | 'ip-failed'

class CaptureError extends Error {
  readonly code: CaptureErrorCode
  constructor (code: CaptureErrorCode, message: string) {
    super(message)
    this.code = code
  }
}

export async function runCapture (args: readonly string[], io: CliIo, deps: CaptureDeps): Promise<number> {
  const parsed = parseCaptureOptions(args, io.env)
  if (!parsed.ok) throw new UsageError(parsed.problems.map(p => `${p.code}: ${p.message}`).join('\n'))
  const options = parsed.options
  if (options.help) {
    io.stdout(formatCaptureUsage())
    return 0
  }
  const log = (level: LogLevel, text: string): void => {
    if (rank[level] < rank[options.logLevel]) return
    if (level === 'warn' || level === 'error') io.stderr(`capture: ${text}\n`)
    else io.stdout(`capture: ${text}\n`)
  }

  for (const warning of parsed.warnings) log('warn', `${warning.code}: ${warning.message}`)

  const { rulesets, warnings } = buildRulesets(options, { podHasIpv6: detectIpv6(deps.interfaces()), resolvConf: deps.resolvConf, groupFile: deps.groupFile })
  for (const warning of warnings) log('warn', warning)
  if (options.dryRun) {
    io.stdout(renderDryRun(rulesets, options.iptablesBinary))
    return 0
  }

  try {
    for (const ruleset of rulesets) {
      if (ruleset.family === 'ipv6') await ensureInboundPassthroughV6(deps, log)
      await applyFamily(ruleset, options.iptablesBinary, deps, log)
    }
  } catch (err) {
    if (!(err instanceof CaptureError)) throw err
    io.stderr(`capture: ${err.code}: ${err.message}\n`)
    return 1
  }
  return 0
}

async function applyFamily (ruleset: Ruleset, binary: IptablesBinary, deps: CaptureDeps, log: (level: LogLevel, text: string) => void): Promise<void> {
  const { save, restore } = commandsFor(ruleset.family, binary)
  const label = ruleset.family === 'ipv4' ? 'IPv4' : 'IPv6'
  const before = await runSave(save, deps)
  const plan = planRestore(ruleset, before)
  if (plan.kind === 'in-sync') {
    log('info', `${label}: the ${plan.ruleCount} rules are already in place; nothing to do`)
    return
  }
  if (plan.reason === 'drift') {
    log('info', `${label}: existing rules differ (${plan.differences.join('; ')}); replacing them`)
  }
  log('debug', `${label}: ${restore} --noflush <<EOF\n${plan.payload}EOF`)
  const result = await deps.exec(restore, ['--noflush'], plan.payload)
  if (result.status === 'not-found') throw missing(restore)
  if (result.code !== 0) {
    throw new CaptureError('iptables-refused', `${restore} --noflush exited with ${result.code}: ${result.stderr.trim() || '(no output)'}\n--- input ---\n${plan.payload}`)
  }
  // Read back: if iptables prints the rules differently from us, the next run re-applies instead of
  // being a no-op; the rules are still right, so this is a warning.
  const after = planRestore(ruleset, await runSave(save, deps))
  if (after.kind === 'in-sync') {
    log('info', `${label}: applied ${plan.ruleCount} rules with ${restore}`)
  } else {
    log('warn', `${label}: applied ${plan.ruleCount} rules, but ${save} lists them differently (${after.differences.join('; ')})`)
  }
}

async function runSave (save: string, deps: CaptureDeps): Promise<string> {
  const result = await deps.exec(save, [])
  if (result.status === 'not-found') throw missing(save)
  if (result.code !== 0) throw new CaptureError('iptables-save-failed', `${save} exited with ${result.code}: ${result.stderr.trim() || '(no output)'}`)
  return result.stdout
}

function missing (command: string): CaptureError {
  return new CaptureError('iptables-missing', `${command} not found on PATH; the init image needs the iptables package (Debian: apt-get install iptables)`)
}

/** Envoy's IPv6 inbound passthrough connects from ::6, which must exist on lo (Istio adds it the same way). */
async function ensureInboundPassthroughV6 (deps: CaptureDeps, log: (level: LogLevel, text: string) => void): Promise<void> {
  if (deps.interfaces().some(a => a.name === 'lo' && a.address === '::6')) return
  const result = await deps.exec('ip', ['-6', 'addr', 'add', '::6/128', 'dev', 'lo'])
  if (result.status === 'not-found') throw new CaptureError('ip-failed', 'ip not found on PATH; IPv6 capture needs iproute2 to add ::6/128 to lo')
  if (result.code !== 0 && !/exists/i.test(result.stderr)) {
    throw new CaptureError('ip-failed', `ip -6 addr add ::6/128 dev lo exited with ${result.code}: ${result.stderr.trim()}`)
  }
  log('info', 'IPv6: added ::6/128 to lo (the proxy\'s inbound passthrough source)')
}
