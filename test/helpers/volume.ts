// A directory laid out as the kubelet lays out a Secret or ConfigMap volume: each file is a symlink
// `name -> ..data/name`, `..data` is a symlink to a timestamped directory, and an update writes a new
// directory and renames a fresh symlink over `..data` (atomic: readers see the old or the new set).
import { mkdtemp, mkdir, rename, rm, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export interface Volume {
  dir: string
  path: (name: string) => string
  /** Publishes a new version of every file at once, as the kubelet's AtomicWriter does. */
  update: (files: Record<string, string>) => Promise<void>
  remove: () => Promise<void>
}

export async function createVolume (files: Record<string, string>): Promise<Volume> {
  const dir = await mkdtemp(join(tmpdir(), 'sidecar-injector-volume-'))
  let version = 0
  const update = async (next: Record<string, string>): Promise<void> => {
    version++
    const data = `..2026_11_22_00_00_0${version}.${process.pid}`
    await mkdir(join(dir, data))
    for (const [name, text] of Object.entries(next)) await writeFile(join(dir, data, name), text)
    await symlink(data, join(dir, '..data_tmp'))
    await rename(join(dir, '..data_tmp'), join(dir, '..data'))
    for (const name of Object.keys(next)) {
      await symlink(join('..data', name), join(dir, name)).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'EEXIST') throw err
      })
    }
  }
  await update(files)
  return { dir, path: name => join(dir, name), update, remove: async () => { await rm(dir, { recursive: true, force: true }) } }
}
