/**
 * Which release this process runs: under the supervisor, the bundle directory it was
 * started from (`FOGMESH_RELEASE_DIR`, whose manifest.json names version and arch);
 * otherwise this code's version and the machine's arch (a checkout).
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { VERSION } from '../../protocol/version.ts'
import { bundleArch } from './update-layout.ts'

export interface RunningRelease {
  version: string
  arch: string
  /** The release directory, when started by the supervisor. */
  dir?: string
}

export function runningRelease(dir = process.env.FOGMESH_RELEASE_DIR, nodeArch: string = process.arch): RunningRelease {
  if (dir) {
    try {
      const m = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as { version?: unknown; arch?: unknown }
      if (typeof m.version === 'string' && typeof m.arch === 'string') return { version: m.version, arch: m.arch, dir }
    } catch {
      // not a bundle directory: fall through to this code's own
    }
  }
  return { version: VERSION, arch: bundleArch(nodeArch) }
}
