/**
 * Unpacks a fetched, hash-checked bundle next to the running release:
 * `releases/<version>-<arch>/`, every file checked against the bundle's own
 * manifest (fleet/release/bundle-info.ts), written under a temporary name and
 * renamed into place, so a half-written release never has the final name.
 */
import { fsyncSync, mkdirSync, openSync, closeSync, readFileSync, renameSync, rmSync, writeFileSync, chmodSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { inspectBundle } from '../../fleet/release/bundle-info.ts'
import { RefusalReason, ReleaseError } from '../../fleet/release/release-error.ts'
import type { ReleaseManifest } from '../../fleet/release/release-manifest.ts'
import { UpdateLayout } from './update-layout.ts'

/** Returns the release directory's name (under `releases/`). */
export function stageRelease(layout: UpdateLayout, tarball: string, m: ReleaseManifest, arch: string): string {
  const info = inspectBundle(readFileSync(tarball), `${m.version} for ${arch}`)
  if (info.version !== m.version) throw new ReleaseError(RefusalReason.badBundle, `release ${m.version}: the bundle inside says version ${info.version}`)
  if (info.arch !== arch) throw new ReleaseError(RefusalReason.wrongArch, `release ${m.version}: the bundle inside is for ${info.arch}, this agent is ${arch}`)
  const name = UpdateLayout.releaseDir(info.version, info.arch)
  if (layout.current() === `releases/${name}`) throw new ReleaseError(RefusalReason.downgrade, `release ${m.version} is the one running`)
  const tmp = join(layout.staging, `${name}.tmp`)
  rmSync(tmp, { recursive: true, force: true })
  mkdirSync(tmp, { recursive: true, mode: 0o755 })
  for (const e of info.entries) {
    const rel = e.path.slice(info.root.length + 1)
    if (!rel) continue
    const dest = join(tmp, rel)
    if (e.type === 'dir') {
      mkdirSync(dest, { recursive: true, mode: 0o755 })
      continue
    }
    mkdirSync(dirname(dest), { recursive: true, mode: 0o755 })
    writeFileSync(dest, e.data, { mode: e.mode & 0o755 })
    chmodSync(dest, e.mode & 0o755)
    const fd = openSync(dest, 'r')
    fsyncSync(fd)
    closeSync(fd)
  }
  const final = join(layout.releases, name)
  rmSync(final, { recursive: true, force: true })
  renameSync(tmp, final)
  return name
}
