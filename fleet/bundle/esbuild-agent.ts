/**
 * The device's JavaScript: esbuild bundles the device CLI (cli/device-main.ts),
 * the executor process entry and the job worker entry into lib/, ESM, minified,
 * for Node 20. Code only some agents need (payment: ethers and the chain
 * client) is split into chunks loaded on first use.
 *
 * What must never be on a device is refused at build time: solc, TypeScript,
 * tsx, anvil, native addons. The contracts' ABIs (all an agent needs of them)
 * are embedded in place of contracts/artifacts.ts, which would compile them.
 */
import { readdirSync } from 'node:fs'
import { join, relative } from 'node:path'
import { build, type Metafile, type Plugin } from 'esbuild'
import { BundleError } from './bundle-error.ts'

export const ENTRY_POINTS = {
  fogmesh: 'cli/device-main.ts',
  'executor.main': 'agent/engine/executor/executor.main.ts',
  'worker.main': 'agent/engine/worker/worker.main.ts',
}

/** Not bundled: jco (components; 0.5 MB of JS and 6 MB of wasm tools — see docs/bundle.md), and what may never be on a device. */
export const EXTERNAL = ['@bytecodealliance/jco', 'better-sqlite3', 'solc', 'tsx', 'typescript', '@foundry-rs/anvil', 'serialport', 'onoff']
/** Inputs that mean something went wrong if they are in the output. */
const FORBIDDEN = /node_modules\/(solc|typescript|tsx|esbuild|@foundry-rs|better-sqlite3|binaryen|@bytecodealliance\/jco-transpile)\//

export interface AgentJs {
  /** lib/<name>.js files, paths relative to the bundle root. */
  files: Array<{ path: string; data: Uint8Array }>
  metafile: Metafile
}

/** contracts/artifacts.ts, replaced by the ABIs themselves (no solc, no file reads). */
function embeddedAbis(root: string): Plugin {
  return {
    name: 'fogmesh-embedded-abis',
    setup(b) {
      b.onLoad({ filter: /contracts[\\/]artifacts\.ts$/ }, async () => {
        const { ensureArtifacts, loadArtifact } = await import('../../contracts/artifacts.ts')
        await ensureArtifacts() // compiles on the build machine when the artifacts are missing
        const dir = join(root, 'contracts', 'artifacts')
        const abis: Record<string, unknown> = {}
        for (const f of readdirSync(dir)) {
          if (!f.endsWith('.json') || f === 'build-info.json') continue
          const name = f.slice(0, -5)
          const a = await loadArtifact(name as Parameters<typeof loadArtifact>[0])
          abis[name] = { contractName: name, sourceName: a.sourceName, abi: a.abi, bytecode: '0x', deployedBytecode: '0x' }
        }
        return {
          loader: 'js',
          contents: `const ABIS = ${JSON.stringify(abis)};
export function ensureArtifacts() { return Promise.resolve(); }
export async function loadArtifact(name) {
  const a = ABIS[name];
  if (!a) throw new Error('contract ' + name + ' is not in the device bundle');
  return a;
}`,
        }
      })
    },
  }
}

export async function bundleAgentJs(root: string): Promise<AgentJs> {
  const outdir = join(root, '.bundle-out', 'lib')
  const result = await build({
    absWorkingDir: root,
    entryPoints: ENTRY_POINTS,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20.11',
    splitting: true,
    outdir,
    entryNames: '[name]',
    chunkNames: '[name]-[hash]', // flat: the agent finds executor.main.js beside whichever chunk forks it
    minify: true,
    legalComments: 'none',
    write: false,
    metafile: true,
    external: EXTERNAL,
    plugins: [embeddedAbis(root)],
    // CommonJS dependencies (mqtt's, tweetnacl) call require(): give ESM output one
    banner: { js: "import{createRequire as __fmRequire}from'node:module';const require=__fmRequire(import.meta.url);" },
    logLevel: 'silent',
  }).catch((err: unknown) => {
    throw new BundleError('esbuild', (err as Error).message.split('\n').slice(0, 3).join(' '))
  })
  const bad = Object.keys(result.metafile.inputs).filter((i) => FORBIDDEN.test(i))
  if (bad.length) throw new BundleError('esbuild', `the agent bundle would contain ${bad.slice(0, 3).join(', ')}: refused`)
  const files = result.outputFiles.map((f) => ({ path: `lib/${relative(outdir, f.path)}`, data: f.contents }))
  return { files, metafile: result.metafile }
}

/** Bytes per npm package (or source folder) in the bundle's JavaScript, largest first. */
export function sizeByPackage(metafile: Metafile): Array<[string, number]> {
  const by = new Map<string, number>()
  for (const o of Object.values(metafile.outputs)) {
    for (const [input, i] of Object.entries(o.inputs)) {
      const m = /node_modules\/((@[^/]+\/)?[^/]+)/.exec(input)
      const key = m ? m[1]! : input.split('/').slice(0, 2).join('/')
      by.set(key, (by.get(key) ?? 0) + i.bytesInOutput)
    }
  }
  return [...by].sort((a, b) => b[1] - a[1])
}

