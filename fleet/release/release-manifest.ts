/**
 * The release manifest: what `fm/v1/releases/<channel>` holds, retained.
 *
 * ```json
 * { "format": "fogmesh-release/1", "channel": "stable", "version": "0.2.0",
 *   "builds": [{ "arch": "arm64", "file": "fogmesh-0.2.0-linux-arm64.tar.gz", "size": 512345,
 *                "sha256": "…", "nodeBundled": null,
 *                "chunks": [{ "sha256": "…", "size": 1048576 }, …] }],
 *   "rollout": 25, "labels": { "site": "depot-3" }, "publishedAt": 1764640000000,
 *   "keyId": "…", "signature": "<ed25519 over canonicalJson(manifest without signature), hex>" }
 * ```
 *
 * Every chunk is retained at `fm/v1/releases/blobs/<chunk sha256>` (content-addressed,
 * each under the broker's packet cap); the bundle is the chunks in order, and hashes to
 * `sha256`. The signature covers every field but itself, prefixed by the domain
 * `fogmesh-release/1\n`, so a manifest cannot be replayed as anything else.
 */
import { canonicalJson } from './canonical-json.ts'
import { RefusalReason, ReleaseError } from './release-error.ts'
import { releaseKeyId, type ReleaseKey } from './release-key.ts'
import { isReleaseVersion } from './version-order.ts'
import { verifySignature } from '../../protocol/signature.ts'
import { FogmeshError } from '../../protocol/errors.ts'
import { array, literal, number, object, optional, record, sha256Hex, string, type Infer } from '../../protocol/validate.ts'

export const RELEASE_FORMAT = 'fogmesh-release/1'
/** Largest bundle a manifest may describe (a bundle with Node is ~30 MB). */
export const MAX_RELEASE_BYTES = 256 * 1024 * 1024
export const MAX_CHUNKS = 4096

/** Bundle architectures (docs/bundle.md): `x64`, `arm64`, `armv7`. */
export const RELEASE_ARCHES = ['x64', 'arm64', 'armv7'] as const
export type ReleaseArch = (typeof RELEASE_ARCHES)[number]

const version = string({ min: 5, max: 64, pattern: /^\d{1,9}\.\d{1,9}\.\d{1,9}(?:-[0-9A-Za-z.-]{1,32})?$/, describe: 'a release version such as 1.4.2 or 1.5.0-rc.1' })
const chunkSchema = object({ sha256: sha256Hex, size: number({ min: 1, max: MAX_RELEASE_BYTES, integer: true }) })
const buildSchema = object({
  arch: literal(...RELEASE_ARCHES),
  file: string({ min: 1, max: 200, pattern: /^[A-Za-z0-9._+-]+$/, describe: 'a file name' }),
  size: number({ min: 1, max: MAX_RELEASE_BYTES, integer: true }),
  sha256: sha256Hex,
  /** The Node version inside (a bundle made with --with-node), or null. */
  nodeBundled: optional(string({ min: 1, max: 32 })),
  chunks: array(chunkSchema, { max: MAX_CHUNKS }),
})
export const channelName = string({ min: 1, max: 64, pattern: /^[a-z0-9][a-z0-9._-]*$/, describe: 'a channel name of [a-z0-9._-]' })

const unsignedShape = {
  format: literal(RELEASE_FORMAT),
  channel: channelName,
  version,
  builds: array(buildSchema, { max: 8 }),
  /** Percent of the channel's agents that take it (by agent id hash; fleet/release/rollout.ts). */
  rollout: number({ min: 0, max: 100, integer: true }),
  /** Only agents with all of these labels take it. */
  labels: record(string({ min: 0, max: 128 })),
  publishedAt: number({ min: 0, integer: true }),
  keyId: string({ min: 16, max: 16, pattern: /^[0-9a-f]{16}$/, describe: '16 hex characters' }),
}
const unsignedSchema = object(unsignedShape)
const signedSchema = object({ ...unsignedShape, signature: string({ min: 128, max: 128, pattern: /^[0-9a-f]{128}$/, describe: 'an ed25519 signature as 128 hex characters' }) })

export type UnsignedManifest = Infer<typeof unsignedSchema>
export type ReleaseManifest = Infer<typeof signedSchema>
export type ReleaseBuild = ReleaseManifest['builds'][number]

const statement = (m: UnsignedManifest) => Buffer.from(`${RELEASE_FORMAT}\n${canonicalJson(m)}`)

export function signManifest(m: UnsignedManifest, key: ReleaseKey): ReleaseManifest {
  const unsigned = unsignedSchema({ ...m, keyId: key.keyId }, 'release')
  return { ...unsigned, signature: Buffer.from(key.signer.sign(statement(unsigned))).toString('hex') }
}

/** Parses a manifest from the wire; throws ReleaseError(malformed) naming the field. */
export function parseManifest(payload: Buffer | string, maxBytes = 256 * 1024): ReleaseManifest {
  if (payload.length > maxBytes) throw new ReleaseError(RefusalReason.malformed, `release manifest of ${payload.length} bytes is over ${maxBytes}`)
  let raw: unknown
  try {
    raw = JSON.parse(payload.toString())
  } catch {
    throw new ReleaseError(RefusalReason.malformed, 'release manifest is not valid JSON')
  }
  try {
    const m = signedSchema(raw, 'release')
    const arches = new Set<string>()
    for (const [i, b] of m.builds.entries()) {
      if (arches.has(b.arch)) throw new ReleaseError(RefusalReason.malformed, `release ${m.version}: two builds for ${b.arch}`)
      arches.add(b.arch)
      const sum = b.chunks.reduce((n, c) => n + c.size, 0)
      if (sum !== b.size || b.chunks.length === 0) throw new ReleaseError(RefusalReason.malformed, `release ${m.version}: builds[${i}].chunks add up to ${sum} bytes, not size ${b.size}`)
    }
    if (!isReleaseVersion(m.version)) throw new ReleaseError(RefusalReason.malformed, `release version ${m.version} is not MAJOR.MINOR.PATCH`)
    return m
  } catch (err) {
    if (err instanceof ReleaseError) throw err
    throw new ReleaseError(RefusalReason.malformed, `release manifest: ${err instanceof FogmeshError ? err.shortMessage : String(err)}`)
  }
}

/** The trusted key that signed `m`, or a ReleaseError(bad_signature). */
export function verifyManifest(m: ReleaseManifest, trustedKeys: readonly string[]): string {
  const { signature, ...unsigned } = m
  const sig = Buffer.from(signature, 'hex')
  for (const key of trustedKeys) {
    if (releaseKeyId(key) !== m.keyId) continue
    if (verifySignature(statement(unsigned), sig, key)) return key
  }
  const known = trustedKeys.some((k) => releaseKeyId(k) === m.keyId)
  throw new ReleaseError(
    RefusalReason.badSignature,
    known ? `release ${m.version} on ${m.channel}: signature does not verify with release key ${m.keyId} (changed after signing)` : `release ${m.version} on ${m.channel}: signed by key ${m.keyId}, which this agent does not trust`,
  )
}
