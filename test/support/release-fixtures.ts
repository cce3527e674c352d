/**
 * Bundle tarballs for the fleet tests, with the layout docs/bundle.md documents
 * (top directory fogmesh-<version>-linux-<arch>[-node]/, manifest.json with a sha256
 * per file, SHA256SUMS, bin/fogmesh, install.sh, lib/, etc/agent.json), packed with
 * GNU tar as POSIX ustar. Their bin/fogmesh is a launcher of this checkout's agent
 * (`node bin/fogmesh.js "$@"`), or any script a test gives (a release that crashes).
 */
import { execFileSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { ROOT } from './paths.ts'
import { tmpDir } from './temp-dirs.ts'

export interface FixtureFile {
  data: string | Buffer
  mode?: number
}

export interface FixtureBundleOptions {
  version: string
  arch?: 'x64' | 'arm64' | 'armv7'
  /** Files to add or replace (by path inside the top directory). */
  files?: Record<string, FixtureFile>
  /** Name the tarball -node and record a bundled Node (the file node/bin/node is a launcher of this Node). */
  withNode?: boolean
}

export interface FixtureBundle {
  /** Path of the tarball. */
  tarball: string
  file: string
  bytes: Buffer
  /** The unpacked tree it was made from. */
  dir: string
  root: string
}

/** bin/fogmesh that runs this checkout's CLI on this Node: the agent a release test restarts into. */
export const CHECKOUT_LAUNCHER = `#!/bin/sh\nexec "${process.execPath}" "${join(ROOT, 'bin/fogmesh.js')}" "$@"\n`

/** bin/fogmesh of a release that dies at start. */
export const CRASHING_LAUNCHER = '#!/bin/sh\necho "fogmesh: this release is broken (test fixture)" >&2\nexit 3\n'

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex')

export function fixtureBundle(opts: FixtureBundleOptions): FixtureBundle {
  const arch = opts.arch ?? 'x64'
  const root = `fogmesh-${opts.version}-linux-${arch}${opts.withNode ? '-node' : ''}`
  const out = tmpDir('fm-fixture-bundle-')
  const dir = join(out, root)
  const files: Record<string, FixtureFile> = {
    'package.json': { data: JSON.stringify({ name: 'fogmesh-agent', version: opts.version, type: 'module' }) + '\n' },
    'bin/fogmesh': { data: CHECKOUT_LAUNCHER, mode: 0o755 },
    'lib/fogmesh.js': { data: `// fixture: the agent runs from the checkout (${ROOT})\n` },
    'etc/agent.json': { data: JSON.stringify({ broker: 'mqtt://127.0.0.1:1883', data: '/var/lib/fogmesh' }, null, 2) + '\n' },
    'install.sh': { data: readFileSync(join(ROOT, 'test/fixtures/fleet/install.sh')), mode: 0o755 },
    'bin/fogmesh-supervise': { data: readFileSync(join(ROOT, 'agent/update/files/fogmesh-supervise.sh')), mode: 0o755 },
    ...(opts.withNode ? { 'node/bin/node': { data: `#!/bin/sh\nexec "${process.execPath}" "$@"\n`, mode: 0o755 } } : {}),
    ...opts.files,
  }
  const listed = Object.keys(files).sort().map((path) => {
    const f = files[path]!
    const data = Buffer.isBuffer(f.data) ? f.data : Buffer.from(f.data)
    const mode = f.mode ?? 0o644
    mkdirSync(dirname(join(dir, path)), { recursive: true })
    writeFileSync(join(dir, path), data)
    chmodSync(join(dir, path), mode)
    return { path, size: data.length, mode, sha256: sha256(data) }
  })
  const manifest = {
    format: 'fogmesh-bundle/1',
    name: 'fogmesh-agent',
    version: opts.version,
    arch,
    node: { min: '20.11.0', bundled: opts.withNode ? process.versions.node : null },
    entry: 'lib/fogmesh.js',
    files: listed,
  }
  writeFileSync(join(dir, 'manifest.json'), JSON.stringify(manifest, null, 2) + '\n')
  writeFileSync(join(dir, 'SHA256SUMS'), listed.map((f) => `${f.sha256}  ${f.path}`).join('\n') + '\n')
  const file = `${root}.tar.gz`
  const tarball = join(out, file)
  execFileSync('tar', ['--format=ustar', '--owner=0', '--group=0', '--numeric-owner', '--mtime=@0', '--sort=name', '-czf', tarball, '-C', out, root])
  return { tarball, file, bytes: readFileSync(tarball), dir, root }
}

/**
 * An A/B root as install.sh leaves it (releases/<version>-<arch>/ and `current`), with
 * the given bundle unpacked as the running release.
 */
export function releaseRoot(bundle: FixtureBundle, version: string, arch = 'x64'): string {
  const root = tmpDir('fm-release-root-')
  mkdirSync(join(root, 'releases'), { recursive: true })
  execFileSync('cp', ['-R', bundle.dir, join(root, 'releases', `${version}-${arch}`)])
  execFileSync('ln', ['-s', `releases/${version}-${arch}`, join(root, 'current')])
  return root
}
