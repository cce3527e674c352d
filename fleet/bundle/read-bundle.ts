/**
 * Reading a bundle back: a tarball (before installing it, or an OTA download)
 * or an unpacked tree (`fogmesh verify` on a device). Everything the manifest
 * promises is checked; the first thing wrong is a BundleError naming the
 * bundle and the cause.
 */
import { lstatSync, readdirSync, readFileSync } from 'node:fs'
import { join, relative } from 'node:path'
import { BundleError } from './bundle-error.ts'
import { checkFiles, MANIFEST_FILE, parseManifest, type BundleManifest } from './manifest.ts'
import { readTarGz } from './tar.ts'

export interface ReadBundle {
  manifest: BundleManifest
  /** The tarball's top directory, e.g. `fogmesh-0.1.0-linux-arm64`. */
  root: string
  files: Map<string, { mode: number; data: Uint8Array }>
}

/** A .tar.gz bundle from a file or bytes, fully checked against its manifest. */
export function readBundle(source: string | Uint8Array, name = typeof source === 'string' ? source : 'bundle'): ReadBundle {
  let gz: Uint8Array
  if (typeof source === 'string') {
    try {
      gz = readFileSync(source)
    } catch (err) {
      throw new BundleError(name, `cannot read (${(err as NodeJS.ErrnoException).code ?? 'error'})`)
    }
  } else gz = source
  const { root, entries } = readTarGz(gz, name)
  const files = new Map(entries.map((e) => [e.path, { mode: e.mode, data: e.data }]))
  const manifest = parseManifest(files.get(MANIFEST_FILE)?.data, name)
  checkFiles(manifest, name, (p) => files.get(p)?.data, files.keys())
  return { manifest, root, files }
}

function walk(dir: string, base = dir, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name)
    if (lstatSync(p).isDirectory()) walk(p, base, out) // a link is an entry of its own, never followed
    else out.push(relative(base, p))
  }
  return out
}

/** An unpacked bundle directory, checked against its manifest.json. */
export function verifyBundleDir(dir: string): BundleManifest {
  let raw: Uint8Array | undefined
  try {
    raw = readFileSync(join(dir, MANIFEST_FILE))
  } catch {
    raw = undefined
  }
  const manifest = parseManifest(raw, dir)
  const read = (p: string) => {
    try {
      return readFileSync(join(dir, p))
    } catch {
      return undefined
    }
  }
  checkFiles(manifest, dir, read, walk(dir))
  return manifest
}
