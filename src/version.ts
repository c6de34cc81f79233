// Who we are, as recorded in the status annotation of every pod we inject (`injector`): the name and
// version of package.json, read once by the composition roots (the core gets it as a parameter).
import { createRequire } from 'node:module'

// dist/version.js and src/version.ts both sit one level below package.json (the image copies it too).
const manifest = createRequire(import.meta.url)('../package.json') as { name?: unknown, version?: unknown }

export const injectorVersion = `${String(manifest.name ?? 'sidecar-injector')}/${String(manifest.version ?? 'unknown')}`
