// Istio's own injector, built by scripts/build-istio-oracle.sh from the pinned istio.io/istio module,
// run as a loopback HTTP server: POST /inject answers an AdmissionReview (inject.Webhook), POST
// /kube-inject answers a YAML stream as `istioctl kube-inject` does.
import { execFileSync, spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'

export const repoRoot = fileURLToPath(new URL('../../../', import.meta.url))
const buildScript = join(repoRoot, 'scripts/build-istio-oracle.sh')

/** The directory of the built binaries; throws with the command to run when they are not built. */
export function oracleBinDir (): string {
  return execFileSync(buildScript, ['--print'], { encoding: 'utf8' }).trim()
}

/** The helm binary built by scripts/build-helm.sh (make helm), which renders Istio's gateway chart. */
export function helmBinary (): string {
  return join(execFileSync(join(repoRoot, 'scripts/build-helm.sh'), ['--print'], { encoding: 'utf8' }).trim().split('\n').pop() ?? '', 'helm')
}

/** The istio.io/istio module in the Go module cache: its samples, charts and goldens. */
export function istioModuleDir (): string {
  return execFileSync(buildScript, ['--module'], { encoding: 'utf8' }).trim()
}

export interface Oracle {
  url: string
  /** The AdmissionReview response Istio's webhook sends. */
  review: (review: unknown) => Promise<{ allowed: boolean, patch?: string, status?: { message?: string } }>
  /** kube-inject of one YAML stream: the output, or the error Istio reports. */
  kubeInject: (yaml: string) => Promise<{ ok: true, output: string } | { ok: false, message: string }>
  stop: () => void
}

export async function startOracle (native: boolean): Promise<Oracle> {
  const child: ChildProcess = spawn(join(oracleBinDir(), 'istio-oracle'), ['serve', `--native=${String(native)}`], {
    stdio: ['pipe', 'pipe', 'pipe']
  })
  let stderr = ''
  child.stderr?.on('data', (d: Buffer) => { stderr = (stderr + d.toString()).slice(-4000) })
  const lines = createInterface({ input: child.stdout! })
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => { reject(new Error(`istio-oracle did not start in 60 s: ${stderr}`)) }, 60_000)
    child.once('exit', code => { clearTimeout(timer); reject(new Error(`istio-oracle exited (${String(code)}): ${stderr}`)) })
    lines.once('line', line => {
      clearTimeout(timer)
      const m = /^listening (http:\/\/127\.0\.0\.1:\d+)$/.exec(line)
      if (m?.[1] === undefined) reject(new Error(`istio-oracle said ${line}`))
      else resolve(m[1])
    })
  })
  return {
    url,
    async review (review) {
      const res = await fetch(`${url}/inject`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(review) })
      if (res.status !== 200) throw new Error(`Istio's webhook answered HTTP ${res.status}: ${await res.text()}`)
      const body = await res.json() as { response: { allowed: boolean, patch?: string, status?: { message?: string } } }
      return body.response
    },
    async kubeInject (yaml) {
      const res = await fetch(`${url}/kube-inject`, { method: 'POST', body: yaml })
      const text = await res.text()
      if (res.status === 200) return { ok: true, output: text }
      if (res.status === 422) return { ok: false, message: text.trim() }
      throw new Error(`istio-oracle kube-inject answered HTTP ${res.status}: ${text}`)
    },
    stop () {
      child.stdin?.end()
      child.kill()
    }
  }
}
