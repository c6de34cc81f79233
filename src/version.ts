// Who we are: the name and version of package.json, read once; `--version` prints it and the webhook
// records it in the status annotation of every pod it injects (`injector`; the core gets it as a parameter).
import { readFileSync } from 'node:fs'

/** package.json sits one level above src/version.ts and dist/version.js, two above the bundle (dist/bundle/). */
function readManifest (): { name: string, version: string } {
  for (const path of ['../package.json', '../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(path, import.meta.url), 'utf8')) as { name?: unknown, version?: unknown }
      if (pkg.name === 'sidecar-injector' && typeof pkg.version === 'string') return { name: pkg.name, version: pkg.version }
    } catch {
      // Not there: try the next level.
    }
  }
  return { name: 'sidecar-injector', version: 'unknown' }
}

const manifest = readManifest()
export const packageVersion = manifest.version
export const injectorVersion = `${manifest.name}/${manifest.version}`
