import { relative } from 'node:path'
import { hostArch, targetFor, type BundleArch } from '../../fleet/bundle/targets.ts'
import { UsageError, type Command } from '../command.ts'

const kb = (n: number) => `${(n / 1024).toFixed(0)} KiB`
const mb = (n: number) => `${(n / 1048576).toFixed(1)} MiB`

export const bundleCommand: Command = {
  name: 'bundle',
  summary: 'the agent for a device: one JavaScript file, a systemd unit, install.sh and a config, as a tarball',
  usage: `usage: fogmesh bundle [--arch arm64|armv7|x64] [--out DIR] [--with-node]

  --arch A      the device's architecture (default: this machine's)
  --out DIR     where the tarball goes (default: dist/)
  --with-node   put the official Node 20 build for that arch in the tarball, for a device
                without Node (fetched once with npm pack into ~/.cache/fogmesh/node)

Writes fogmesh-<version>-linux-<arch>[-node].tar.gz and a .sha256 beside it; the layout is
docs/bundle.md. On the device: tar xzf it, then sudo ./fogmesh-*/install.sh --broker URL`,
  options: {
    arch: { type: 'string' },
    out: { type: 'string' },
    'with-node': { type: 'boolean' },
  },
  async run(values) {
    const arch = (values.arch as string | undefined) ?? hostArch()
    if (arch === undefined) throw new UsageError(`--arch is required on a ${process.arch} machine (arm64, armv7 or x64)`)
    try {
      targetFor(arch)
    } catch {
      throw new UsageError(`--arch is arm64, armv7 or x64 (got ${arch})`)
    }
    const outDir = (values.out as string | undefined) ?? 'dist'
    // esbuild and the bundle code load only for this command, not for every fogmesh start
    const { buildBundle } = await import('../../fleet/bundle/build-bundle.ts')
    const b = await buildBundle({ arch: arch as BundleArch, outDir, withNode: values['with-node'] === true, progress: (m) => console.error(`  .. ${m}`) })
    const shown = relative(process.cwd(), b.tarball)
    console.log(`bundle ${shown.startsWith('..') ? b.tarball : shown}: fogmesh ${b.manifest.version} for ${arch}, ${mb(b.bytes)}${b.manifest.node.bundled ? ` (with Node ${b.manifest.node.bundled})` : ' (needs Node >= ' + b.manifest.node.min + ' on the device)'}`)
    console.log(`  agent JavaScript ${kb(b.jsBytes)} in ${b.manifest.files.filter((f) => f.path.startsWith('lib/')).length} files; largest: ${b.jsByPackage.slice(0, 4).map(([p, n]) => `${p} ${kb(n)}`).join(', ')}`)
    console.log(`  sha256 ${b.sha256}`)
    console.log(`  on the device: tar xzf ${b.dirName}.tar.gz && sudo ./${b.dirName}/install.sh --broker mqtt://BROKER:1883`)
    return 0
  },
}
