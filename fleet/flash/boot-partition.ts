/**
 * A Raspberry Pi OS boot partition (the FAT32 `bootfs`), behind one interface with two
 * implementations: a mounted directory (`--boot DIR`, dir-partition.ts) and a FAT image
 * written through mtools without mounting (`--image FILE`, fat-image.ts). Paths are
 * relative to the partition's root, with `/` separators.
 */
import { ErrorCode, FogmeshError } from '../../protocol/errors.ts'

export interface BootPartition {
  /** What messages call it (the directory or the image). */
  readonly describe: string
  exists(path: string): boolean
  /** The file's bytes, or undefined when there is none. */
  read(path: string): Buffer | undefined
  /** Writes (replaces) a file, making its directories. */
  write(path: string, data: Buffer | string): void
}

export class FlashError extends FogmeshError {
  override name = 'FlashError'
  constructor(message: string) {
    super(ErrorCode.flashFailed, message)
  }
}

/** Refuses what is not a Raspberry Pi OS boot partition (no cmdline.txt and config.txt). */
export function checkBootPartition(p: BootPartition): void {
  const missing = ['cmdline.txt', 'config.txt'].filter((f) => !p.exists(f))
  if (missing.length) throw new FlashError(`${p.describe} is not a Raspberry Pi OS boot partition (no ${missing.join(' and ')}); write the OS image to the card first`)
}
