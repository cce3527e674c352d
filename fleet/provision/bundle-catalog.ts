/**
 * The bundles `fogmesh provision` may install: files (or every fogmesh-*.tar.gz in a
 * directory), each checked once, and the choice for one host: its arch, without Node
 * when the host has a new enough one, with Node (`--with-node`) otherwise.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { basename, join } from 'node:path'
import { inspectBundle, type BundleInfo } from '../release/bundle-info.ts'
import { ReleaseError } from '../release/release-error.ts'
import { compareVersions } from '../release/version-order.ts'
import { ErrorCode, FogmeshError } from '../../protocol/errors.ts'
import type { HostFacts } from './host-probe.ts'
import { ProvisionError, ProvisionReason } from './provision-error.ts'

export interface CatalogBundle {
  file: string
  bytes: Buffer
  info: BundleInfo
}

export function loadBundles(paths: string[]): CatalogBundle[] {
  const files: string[] = []
  for (const p of paths) {
    let st
    try {
      st = statSync(p)
    } catch {
      throw new FogmeshError(ErrorCode.usage, `--bundle ${p}: no such file or directory`)
    }
    if (st.isDirectory()) files.push(...readdirSync(p).filter((f) => /^fogmesh-.*\.tar\.gz$/.test(f)).sort().map((f) => join(p, f)))
    else files.push(p)
  }
  if (files.length === 0) throw new FogmeshError(ErrorCode.usage, `--bundle ${paths.join(',')}: no fogmesh-*.tar.gz bundle there (make one with fogmesh bundle)`)
  return files.map((file) => {
    const bytes = readFileSync(file)
    try {
      return { file, bytes, info: inspectBundle(bytes, basename(file)) }
    } catch (err) {
      if (err instanceof ReleaseError) throw new FogmeshError(ErrorCode.usage, err.shortMessage)
      throw err
    }
  })
}

const nodeOk = (have: string | undefined, min: string) => have !== undefined && compareVersions(have, min) >= 0

/** The bundle for `facts`, or a ProvisionError naming the host and what is missing. */
export function chooseBundle(bundles: CatalogBundle[], facts: HostFacts, host: string): CatalogBundle {
  const forArch = bundles.filter((b) => b.info.arch === facts.arch)
  if (!facts.arch || forArch.length === 0) {
    throw new ProvisionError(host, ProvisionReason.wrongArch, `no bundle for this host's ${facts.machine} (have: ${[...new Set(bundles.map((b) => b.info.arch))].join(', ')})`)
  }
  const plain = forArch.find((b) => !b.info.nodeBundled && nodeOk(facts.node, b.info.nodeMin))
  if (plain) return plain
  const withNode = forArch.find((b) => b.info.nodeBundled)
  if (withNode) return withNode
  const min = forArch[0]!.info.nodeMin
  throw new ProvisionError(
    host,
    ProvisionReason.noNode,
    facts.node ? `Node ${facts.node} on the host is older than ${min}, and the ${facts.arch} bundle brings none (make one with fogmesh bundle --with-node)` : `no Node.js on the host, and the ${facts.arch} bundle brings none (install Node >= ${min}, or make one with fogmesh bundle --with-node)`,
  )
}
