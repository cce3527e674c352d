/**
 * A bundle's manifest (docs/bundle.md): what it is (version, arch, which Node)
 * and every file in it with size, mode and sha256. Made when the bundle is
 * built; checked wherever one is read — the tarball (read-bundle.ts), an
 * unpacked tree on a device (`fogmesh verify`), OTA. Validated at the boundary:
 * a malformed manifest is refused with the field named.
 */
import { createHash } from 'node:crypto'
import { BundleError } from './bundle-error.ts'
import { TARGETS, nodeAtLeast, type BundleArch } from './targets.ts'

export const MANIFEST_FORMAT = 'fogmesh-bundle/1'
export const MANIFEST_FILE = 'manifest.json'
export const SUMS_FILE = 'SHA256SUMS'

export interface ManifestFile {
  path: string
  size: number
  /** Permission bits, decimal in JSON (0o755 = 493). */
  mode: number
  sha256: string
}

export interface BundleManifest {
  format: typeof MANIFEST_FORMAT
  name: 'fogmesh-agent'
  version: string
  arch: BundleArch
  node: { min: string; bundled: string | null }
  /** The device CLI, relative to the bundle root. */
  entry: string
  files: ManifestFile[]
}

export const sha256hex = (b: Uint8Array) => createHash('sha256').update(b).digest('hex')

export function buildManifest(m: Omit<BundleManifest, 'format' | 'name' | 'files'>, files: Array<{ path: string; mode: number; data: Uint8Array }>): BundleManifest {
  const listed = files
    .filter((f) => f.path !== MANIFEST_FILE && f.path !== SUMS_FILE)
    .map((f) => ({ path: f.path, size: f.data.length, mode: f.mode & 0o7777, sha256: sha256hex(f.data) }))
    .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))
  return { format: MANIFEST_FORMAT, name: 'fogmesh-agent', ...m, files: listed }
}

/** `sha256sum -c` input for the manifest's files. */
export function sumsText(m: BundleManifest): string {
  return m.files.map((f) => `${f.sha256}  ${f.path}\n`).join('')
}

/** Parses and validates manifest.json; `what` names the bundle in errors. */
export function parseManifest(bytes: Uint8Array | undefined, what: string): BundleManifest {
  if (bytes === undefined) throw new BundleError(what, `no ${MANIFEST_FILE} (not a fogmesh bundle, or truncated)`)
  let m: Record<string, unknown>
  try {
    m = JSON.parse(Buffer.from(bytes).toString('utf8')) as Record<string, unknown>
  } catch {
    throw new BundleError(what, `${MANIFEST_FILE} is not valid JSON (corrupted)`)
  }
  const bad = (field: string, expected: string): never => {
    throw new BundleError(what, `${MANIFEST_FILE}: ${field} must be ${expected}`)
  }
  if (typeof m !== 'object' || m === null) bad('the manifest', 'a JSON object')
  if (m.format !== MANIFEST_FORMAT) bad('format', `"${MANIFEST_FORMAT}" (got ${JSON.stringify(m.format)})`)
  if (m.name !== 'fogmesh-agent') bad('name', '"fogmesh-agent"')
  if (typeof m.version !== 'string' || !/^\d+\.\d+\.\d+([-+][0-9A-Za-z.-]+)?$/.test(m.version)) bad('version', 'a semver version')
  if (typeof m.arch !== 'string' || !(m.arch in TARGETS)) bad('arch', `one of ${Object.keys(TARGETS).join(', ')}`)
  const node = m.node as Record<string, unknown> | undefined
  if (typeof node !== 'object' || node === null || typeof node.min !== 'string' || !(node.bundled === null || typeof node.bundled === 'string')) bad('node', '{ min: string, bundled: string | null }')
  if (typeof m.entry !== 'string') bad('entry', 'a path')
  if (!Array.isArray(m.files)) bad('files', 'an array')
  const seen = new Set<string>()
  for (const [i, f] of (m.files as unknown[]).entries()) {
    const e = f as Record<string, unknown>
    if (typeof e?.path !== 'string' || e.path.startsWith('/') || e.path.split('/').some((p) => p === '..' || p === '')) bad(`files[${i}].path`, 'a relative path without ..')
    if (seen.has(e.path as string)) bad(`files[${i}].path`, `unique ("${e.path as string}" twice)`)
    seen.add(e.path as string)
    if (!Number.isSafeInteger(e.size) || (e.size as number) < 0) bad(`files[${i}].size`, 'a byte count')
    if (!Number.isSafeInteger(e.mode)) bad(`files[${i}].mode`, 'permission bits')
    if (typeof e.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(e.sha256)) bad(`files[${i}].sha256`, '64 hex digits')
  }
  if (!seen.has(m.entry as string)) bad('entry', `one of files (${m.entry as string} is not listed)`)
  return m as unknown as BundleManifest
}

/**
 * Every file the manifest lists is there with its size and hash; nothing else
 * is there. `read(path)` returns a file's bytes or undefined when it is missing.
 */
export function checkFiles(m: BundleManifest, what: string, read: (path: string) => Uint8Array | undefined, present?: Iterable<string>): void {
  for (const f of m.files) {
    const data = read(f.path)
    if (data === undefined) throw new BundleError(what, `${f.path} is missing (truncated?)`)
    if (data.length !== f.size) throw new BundleError(what, `${f.path} is ${data.length} bytes, the manifest says ${f.size} (truncated or corrupted)`)
    if (sha256hex(data) !== f.sha256) throw new BundleError(what, `${f.path} does not match its sha256 in the manifest (corrupted)`)
  }
  if (present) {
    const listed = new Set([...m.files.map((f) => f.path), MANIFEST_FILE, SUMS_FILE])
    for (const p of present) if (!listed.has(p)) throw new BundleError(what, `${p} is not in the manifest (tampered?)`)
  }
}

/** The bundle can run on a host of this arch and Node version (`nodeVersion` undefined: it brings its own). */
export function checkHost(m: BundleManifest, host: { arch: string | undefined; nodeVersion?: string | undefined; name?: string }): void {
  const who = host.name ?? 'this host'
  if (host.arch !== m.arch) throw new BundleError(`fogmesh ${m.version} (${m.arch})`, `bundle is for ${m.arch}, ${who} is ${host.arch ?? 'an unsupported arch'}`)
  if (m.node.bundled === null) {
    if (host.nodeVersion === undefined) throw new BundleError(who, `no Node.js found; install Node >= ${m.node.min} or use a bundle made with --with-node`)
    if (!nodeAtLeast(host.nodeVersion, m.node.min)) throw new BundleError(who, `Node ${host.nodeVersion} is too old; the bundle needs >= ${m.node.min} (or use one made with --with-node)`)
  }
}
