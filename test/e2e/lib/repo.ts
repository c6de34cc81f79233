// Paths into the repository, found by walking up from this file, so that the harness works both
// from test/e2e/lib (under tap) and compiled into dist-e2e/lib (make demo).
import { existsSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

function findRoot (): string {
  let dir = dirname(fileURLToPath(import.meta.url))
  for (;;) {
    const manifest = join(dir, 'package.json')
    if (existsSync(manifest) && (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name === 'sidecar-injector') return dir
    const parent = dirname(dir)
    if (parent === dir) throw new Error('cannot find the sidecar-injector repository above ' + fileURLToPath(import.meta.url))
    dir = parent
  }
}

export const repoRoot = findRoot()

/**
 * The built CLI as it ships (`npm run build`: the esbuild bundle the image, bin/ and package.json's bin
 * run), so that the e2e suite runs the webhook exactly as users do.
 */
export const cliPath = join(repoRoot, 'dist', 'bundle', 'cli.js')
