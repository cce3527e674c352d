/**
 * A `BlobSource` over a map, for tests and for a requester resolving what it
 * just cut: whatever bytes are stored under a name are returned as they are
 * (a test can store wrong ones), so every check is the resolver's.
 */
import { ErrorCode } from '../errors.ts'
import { BlobError } from './blob-error.ts'
import type { BlobSource } from './resolve-blob.ts'

export class MemoryBlobSource implements BlobSource {
  readonly pieces: Map<string, Buffer>
  /** Names asked for, in order (a test sees what was fetched, and what was not). */
  readonly asked: string[] = []
  readonly refused: string[] = []
  /** A second copy per name, served after the first was refused (another holder's). */
  readonly fallback = new Map<string, Buffer>()

  constructor(pieces: Iterable<[string, Buffer]> = []) {
    this.pieces = new Map(pieces)
  }

  async get(sha256: string): Promise<Buffer> {
    this.asked.push(sha256)
    const b = this.pieces.get(sha256)
    if (!b) throw new BlobError(ErrorCode.blobNotFound, sha256, `blob ${sha256} is not published`)
    return b
  }

  refuse(sha256: string): void {
    this.refused.push(sha256)
    const other = this.fallback.get(sha256)
    if (other) {
      this.pieces.set(sha256, other)
      this.fallback.delete(sha256)
    } else this.pieces.delete(sha256)
  }
}
