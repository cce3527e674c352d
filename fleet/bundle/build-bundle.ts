/**
 * `fogmesh bundle`: the agent for a device as one tarball (docs/bundle.md) —
 * the esbuild'd JavaScript, a launcher, the systemd unit, install.sh, a config
 * template, a manifest with every file's sha256, and with `withNode` the Node
 * binary for the arch. Reproducible: same sources, same bytes.
 */
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { bundleAgentJs, sizeByPackage } from './esbuild-agent.ts'
import { buildManifest, MANIFEST_FILE, sha256hex, SUMS_FILE, sumsText, type BundleManifest } from './manifest.ts'
import { nodeRuntime } from './node-runtime.ts'
import { systemdUnit } from './systemd-unit.ts'
import { writeTarGz, type TarEntry } from './tar.ts'
import { NODE_MIN, targetFor, type BundleArch } from './targets.ts'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const FILES = fileURLToPath(new URL('./files/', import.meta.url))

/**
 * V8 flags the launcher starts the agent's Node with (bench/footprint.bench.ts measures them):
 * a 1 MiB young generation instead of 16 MiB and V8's size-over-speed heuristics (both passed on
 * to the executor), and no optimizing JIT for the agent's own JavaScript (it mostly waits on the
 * network; job code is WebAssembly, compiled by V8's wasm tiers, which this flag leaves alone).
 */
export const DEVICE_NODE_FLAGS = '--max-semi-space-size=1 --optimize-for-size --no-opt'

export interface BundleOptions {
  arch: BundleArch
  outDir: string
  withNode?: boolean
  /** Progress lines (fetching Node, sizes). */
  progress?: (msg: string) => void
  /** The checkout to bundle (default: this one). */
  root?: string
  /** The version to stamp on the bundle (default: package.json's); OTA tests build successive releases. */
  version?: string
}

export interface BuiltBundle {
  tarball: string
  sha256: string
  bytes: number
  manifest: BundleManifest
  /** Top directory inside the tarball. */
  dirName: string
  /** Bytes of lib/*.js (the agent's JavaScript). */
  jsBytes: number
  /** Bytes of the JavaScript per npm package, largest first. */
  jsByPackage: Array<[string, number]>
}

function fill(template: string, values: Record<string, string>): string {
  return template.replace(/@([A-Z_]+)@/g, (m, k: string) => values[k] ?? m)
}

export const configTemplate = () =>
  JSON.stringify(
    {
      $comment: 'fogmesh agent config: keys are `fogmesh agent` flags in camelCase; flags on the command line override them',
      broker: 'mqtt://127.0.0.1:1883',
      name: null,
      data: '/var/lib/fogmesh',
      labels: {},
      price: 1,
      isolation: 'process',
      executorUser: 'fogmesh-exec',
      heartbeatMs: 1000,
      // whose signed jobs it runs: requester ids, comma-separated (a gateway prints its own), or "any"
      acceptFrom: null,
    },
    null,
    2,
  ) + '\n'

export async function buildBundle(o: BundleOptions): Promise<BuiltBundle> {
  const root = o.root ?? ROOT
  const target = targetFor(o.arch)
  const progress = o.progress ?? (() => {})
  const version = o.version ?? (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string }).version
  const js = await bundleAgentJs(root)
  const node = o.withNode ? await nodeRuntime(target, progress) : undefined
  const values = { VERSION: version, ARCH: o.arch, UNAMES: target.uname.join(' '), NODE_MIN, NODE_FLAGS: DEVICE_NODE_FLAGS }
  const text = (s: string) => Buffer.from(s)
  const files: TarEntry[] = [
    { path: 'bin/fogmesh', mode: 0o755, data: text(fill(readFileSync(join(FILES, 'fogmesh.sh'), 'utf8'), values)) },
    { path: 'install.sh', mode: 0o755, data: text(fill(readFileSync(join(FILES, 'install.sh'), 'utf8'), values)) },
    // the A/B supervisor the unit and the plain service run the agent under (OTA with rollback, agent/update)
    { path: 'bin/fogmesh-supervise', mode: 0o755, data: readFileSync(fileURLToPath(new URL('../../agent/update/files/fogmesh-supervise.sh', import.meta.url))) },
    { path: 'package.json', mode: 0o644, data: text(JSON.stringify({ name: 'fogmesh-agent', version, type: 'module', private: true }, null, 2) + '\n') },
    { path: 'systemd/fogmesh-agent.service', mode: 0o644, data: text(systemdUnit()) },
    { path: 'etc/agent.json', mode: 0o644, data: text(configTemplate()) },
    ...js.files.map((f) => ({ path: f.path, mode: 0o644, data: f.data })),
    ...(node ? [{ path: 'node/bin/node', mode: 0o755, data: node.binary }, { path: 'node/LICENSE', mode: 0o644, data: node.license }] : []),
  ]
  files.sort((a, b) => (a.path < b.path ? -1 : 1))
  const manifest = buildManifest({ version, arch: o.arch, node: { min: NODE_MIN, bundled: node?.version ?? null }, entry: 'lib/fogmesh.js' }, files)
  const dirName = `fogmesh-${version}-linux-${o.arch}${node ? '-node' : ''}`
  const gz = writeTarGz(
    [{ path: MANIFEST_FILE, mode: 0o644, data: text(JSON.stringify(manifest, null, 2) + '\n') }, { path: SUMS_FILE, mode: 0o644, data: text(sumsText(manifest)) }, ...files],
    dirName,
  )
  mkdirSync(o.outDir, { recursive: true })
  const tarball = join(o.outDir, `${dirName}.tar.gz`)
  writeFileSync(tarball, gz)
  const sha256 = sha256hex(gz)
  writeFileSync(`${tarball}.sha256`, `${sha256}  ${dirName}.tar.gz\n`)
  const jsBytes = js.files.reduce((n, f) => n + f.data.length, 0)
  return { tarball, sha256, bytes: gz.length, manifest, dirName, jsBytes, jsByPackage: sizeByPackage(js.metafile) }
}

/** Writes a read bundle's files under `dir` with their modes (tests; OTA unpacks the same way). */
export function writeTree(dir: string, files: Map<string, { mode: number; data: Uint8Array }>): void {
  for (const [path, f] of files) {
    const p = join(dir, path)
    mkdirSync(join(p, '..'), { recursive: true })
    writeFileSync(p, f.data)
    chmodSync(p, f.mode & 0o7777)
  }
}
