/**
 * What a bundle tarball is (docs/bundle.md), checked before it is signed,
 * shipped or installed: one top directory `fogmesh-<version>-linux-<arch>[-node]/`,
 * a `manifest.json` of format `fogmesh-bundle/1`, and every file listed there with
 * the size and sha256 it has. Any other state is a ReleaseError(bad_bundle) naming
 * the file and the cause.
 */
import { createHash } from 'node:crypto'
import { RefusalReason, ReleaseError } from './release-error.ts'
import { RELEASE_ARCHES, type ReleaseArch } from './release-manifest.ts'
import { readTarGz, TAR_LIMITS, type TarEntry, type TarLimits } from './tarball.ts'
import { isReleaseVersion } from './version-order.ts'

export interface BundleFile {
  path: string
  size: number
  mode: number
  sha256: string
}

export interface BundleInfo {
  /** The top directory inside the tarball. */
  root: string
  version: string
  arch: ReleaseArch
  /** The Node version inside (`--with-node`), or null. */
  nodeBundled: string | null
  nodeMin: string
  files: BundleFile[]
  /** Files by path relative to `root` (directories are implied). */
  entries: TarEntry[]
}

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex')

/** Reads and checks a bundle's bytes; `what` names it in errors (a file, a host, a release). */
export function inspectBundle(bytes: Uint8Array, what: string, limits: TarLimits = TAR_LIMITS): BundleInfo {
  const bad = (cause: string) => new ReleaseError(RefusalReason.badBundle, `bundle ${what}: ${cause}`)
  let entries: TarEntry[]
  try {
    entries = readTarGz(bytes, limits)
  } catch (err) {
    throw bad((err as Error).message)
  }
  const first = entries[0]
  if (!first) throw bad('the archive is empty')
  const root = first.path.split('/')[0]!
  if (!/^fogmesh-[0-9A-Za-z.+-]+-linux-(x64|arm64|armv7)(-node)?$/.test(root)) throw bad(`top directory ${root} is not fogmesh-<version>-linux-<arch>`)
  const files = new Map<string, TarEntry>()
  for (const e of entries) {
    if (e.path !== root && !e.path.startsWith(`${root}/`)) throw bad(`${e.path} is outside the top directory ${root}`)
    if (e.type === 'file') files.set(e.path.slice(root.length + 1), e)
  }
  const mf = files.get('manifest.json')
  if (!mf) throw bad('no manifest.json')
  let manifest: Record<string, unknown>
  try {
    manifest = JSON.parse(mf.data.toString('utf8')) as Record<string, unknown>
  } catch {
    throw bad('manifest.json is not valid JSON')
  }
  if (manifest.format !== 'fogmesh-bundle/1') throw bad(`manifest.json format is ${JSON.stringify(manifest.format)}, not "fogmesh-bundle/1"`)
  const version = manifest.version
  const arch = manifest.arch
  if (typeof version !== 'string' || !isReleaseVersion(version)) throw bad(`manifest.json version ${JSON.stringify(version)} is not a release version`)
  if (typeof arch !== 'string' || !(RELEASE_ARCHES as readonly string[]).includes(arch)) throw bad(`manifest.json arch ${JSON.stringify(arch)} is not one of ${RELEASE_ARCHES.join(', ')}`)
  const node = (manifest.node ?? {}) as { min?: unknown; bundled?: unknown }
  const listed = Array.isArray(manifest.files) ? (manifest.files as BundleFile[]) : undefined
  if (!listed) throw bad('manifest.json has no files list')
  for (const f of listed) {
    const e = files.get(f.path)
    if (!e) throw bad(`${f.path} is listed in manifest.json but missing`)
    if (e.data.length !== f.size) throw bad(`${f.path} is ${e.data.length} bytes, manifest.json says ${f.size}`)
    if (sha256(e.data) !== f.sha256) throw bad(`${f.path} does not match its sha256 in manifest.json (corrupted)`)
  }
  const known = new Set(listed.map((f) => f.path))
  for (const p of files.keys()) if (p !== 'manifest.json' && p !== 'SHA256SUMS' && !known.has(p)) throw bad(`${p} is not listed in manifest.json`)
  for (const need of ['bin/fogmesh', 'install.sh']) if (!known.has(need)) throw bad(`no ${need}`)
  return {
    root,
    version,
    arch: arch as ReleaseArch,
    nodeBundled: typeof node.bundled === 'string' ? node.bundled : null,
    nodeMin: typeof node.min === 'string' ? node.min : '20.0.0',
    files: listed,
    entries,
  }
}
