/**
 * A release from bundle tarballs: each bundle checked (bundle-info.ts), cut into
 * content-addressed chunks under the broker's packet cap, described by one signed
 * manifest. Nothing is published here (publish-release.ts does that).
 */
import { createHash } from 'node:crypto'
import { inspectBundle, type BundleInfo } from './bundle-info.ts'
import { RefusalReason, ReleaseError } from './release-error.ts'
import type { ReleaseKey } from './release-key.ts'
import { RELEASE_FORMAT, signManifest, type ReleaseBuild, type ReleaseManifest } from './release-manifest.ts'
import { mergeOptions } from '../../protocol/options.ts'

export interface ReleaseInput {
  /** The tarball's bytes and its file name (what the manifest calls it). */
  bundles: { file: string; bytes: Uint8Array }[]
  key: ReleaseKey
  channel: string
  rollout?: number
  labels?: Record<string, string>
  /** Chunk size: at most the broker's packet cap less the topic and headers (default 1 MiB; aedes default cap 2 MiB). */
  chunkBytes?: number
  now?: number
}

export const RELEASE_DEFAULTS = { rollout: 100, labels: {} as Record<string, string>, chunkBytes: 1024 * 1024 }

export interface BuiltRelease {
  manifest: ReleaseManifest
  /** Chunk bytes by sha256: what goes to `fm/v1/releases/blobs/<sha256>`. */
  blobs: Map<string, Buffer>
  bundles: BundleInfo[]
}

export function buildRelease(input: ReleaseInput): BuiltRelease {
  const o = mergeOptions(input, RELEASE_DEFAULTS, { rollout: { min: 0, max: 100, integer: true }, chunkBytes: { min: 1024, max: 64 * 1024 * 1024, integer: true } }, 'release')
  if (o.bundles.length === 0) throw new ReleaseError(RefusalReason.malformed, 'a release needs at least one bundle')
  const blobs = new Map<string, Buffer>()
  const builds: ReleaseBuild[] = []
  const infos: BundleInfo[] = []
  for (const { file, bytes } of o.bundles) {
    const info = inspectBundle(bytes, file)
    const first = infos[0]
    if (first && info.version !== first.version) throw new ReleaseError(RefusalReason.malformed, `bundle ${file} is version ${info.version}, ${o.bundles[0]!.file} is ${first.version}: one release, one version`)
    if (infos.some((i) => i.arch === info.arch)) throw new ReleaseError(RefusalReason.malformed, `two bundles for ${info.arch} (${file})`)
    infos.push(info)
    const buf = Buffer.from(bytes)
    const chunks: ReleaseBuild['chunks'] = []
    for (let off = 0; off < buf.length; off += o.chunkBytes) {
      const part = buf.subarray(off, Math.min(buf.length, off + o.chunkBytes))
      const sha = createHash('sha256').update(part).digest('hex')
      blobs.set(sha, part)
      chunks.push({ sha256: sha, size: part.length })
    }
    const name = file.split('/').pop()!
    builds.push({ arch: info.arch, file: name, size: buf.length, sha256: createHash('sha256').update(buf).digest('hex'), nodeBundled: info.nodeBundled ?? undefined, chunks })
  }
  const manifest = signManifest(
    { format: RELEASE_FORMAT, channel: o.channel, version: infos[0]!.version, builds, rollout: o.rollout, labels: o.labels, publishedAt: o.now ?? Date.now(), keyId: o.key.keyId },
    o.key,
  )
  return { manifest, blobs, bundles: infos }
}
