/** `fogmesh verify [DIR]` on a device: the unpacked bundle against its manifest. */
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { verifyBundleDir } from '../../fleet/bundle/read-bundle.ts'
import type { Command } from '../command.ts'

/** The bundle's root: lib/fogmesh.js (this code, bundled) lives one level below it. */
const BUNDLE_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..')

export const verifyCommand: Command = {
  name: 'verify',
  summary: 'checks this bundle (or DIR) against its manifest: every file there, with its size and sha256',
  usage: 'usage: fogmesh verify [DIR]   (default: the bundle this command runs from)',
  options: {},
  async run(_values, positionals) {
    const dir = positionals[0] ?? BUNDLE_ROOT
    const m = verifyBundleDir(dir)
    console.log(`ok: fogmesh ${m.version} for ${m.arch}, ${m.files.length} files match ${join(dir, 'manifest.json')}`)
    return 0
  },
}

