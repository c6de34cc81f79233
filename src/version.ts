// Who we are: the name and version of package.json, read once; `--version` prints it and the webhook
// records it in the status annotation of every pod it injects (`injector`; the core gets it as a parameter).
import { createRequire } from 'node:module'

// dist/version.js and src/version.ts both sit one level below package.json (the image copies it too).
const manifest = createRequire(import.meta.url)('../package.json') as { name?: unknown, version?: unknown }

export const packageVersion = typeof manifest.version === 'string' ? manifest.version : 'unknown'
export const injectorVersion = `${typeof manifest.name === 'string' ? manifest.name : 'sidecar-injector'}/${packageVersion}`
