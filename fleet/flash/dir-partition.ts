/** A mounted boot partition (`/media/$USER/bootfs`, `/Volumes/bootfs`, `D:\`): plain files. */
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { FlashError, type BootPartition } from './boot-partition.ts'

export class DirPartition implements BootPartition {
  readonly describe: string

  constructor(private readonly dir: string) {
    this.describe = dir
    let ok = false
    try {
      ok = statSync(dir).isDirectory()
    } catch {
      ok = false
    }
    if (!ok) throw new FlashError(`${dir} is not a directory (give the mounted boot partition, e.g. /media/$USER/bootfs)`)
  }

  exists(path: string): boolean {
    return existsSync(join(this.dir, path))
  }

  read(path: string): Buffer | undefined {
    try {
      return readFileSync(join(this.dir, path))
    } catch {
      return undefined
    }
  }

  write(path: string, data: Buffer | string): void {
    const dest = join(this.dir, path)
    mkdirSync(dirname(dest), { recursive: true })
    try {
      writeFileSync(dest, data)
    } catch (err) {
      const e = err as NodeJS.ErrnoException
      throw new FlashError(`cannot write ${dest}: ${e.code === 'ENOSPC' ? 'the boot partition is full' : (e.code ?? e.message)}`)
    }
  }
}
