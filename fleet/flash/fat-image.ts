/**
 * A FAT boot partition inside an image file, read and written with GNU mtools (`mtype`,
 * `mcopy`, `mmd`, `mdir`): no mount, no root. The file is either the partition itself or
 * a whole card image (`*.img` as downloaded), whose first FAT partition is found in the
 * MBR and addressed as `FILE@@OFFSET`.
 */
import { execFileSync, spawnSync } from 'node:child_process'
import { closeSync, mkdtempSync, openSync, readSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { FlashError, type BootPartition } from './boot-partition.ts'

/** Byte offset of the boot partition in `file`: 0 for a bare FAT file system, the first FAT partition's start for an MBR disk image. */
export function fatOffset(file: string): number {
  const b = Buffer.alloc(512)
  let fd: number
  try {
    fd = openSync(file, 'r')
  } catch (err) {
    throw new FlashError(`cannot open image ${file}: ${(err as NodeJS.ErrnoException).code ?? 'unreadable'}`)
  }
  const n = readSync(fd, b, 0, 512, 0)
  closeSync(fd)
  if (n < 512 || b[510] !== 0x55 || b[511] !== 0xaa) throw new FlashError(`${file} is not a FAT file system or a disk image (no boot signature)`)
  const fat = b.subarray(0x36, 0x3b).toString('latin1') === 'FAT12' || b.subarray(0x36, 0x3b).toString('latin1') === 'FAT16' || b.subarray(0x52, 0x57).toString('latin1') === 'FAT32'
  if (fat) return 0
  for (let i = 0; i < 4; i++) {
    const e = 0x1be + i * 16
    const type = b[e + 4]!
    if ([0x01, 0x04, 0x06, 0x0b, 0x0c, 0x0e].includes(type)) return b.readUInt32LE(e + 8) * 512
  }
  throw new FlashError(`${file} has no FAT partition (is it a Raspberry Pi OS image?)`)
}

export class FatImage implements BootPartition {
  readonly describe: string
  private readonly target: string
  private readonly env: NodeJS.ProcessEnv

  constructor(file: string) {
    const offset = fatOffset(file)
    this.target = offset ? `${file}@@${offset}` : file
    this.describe = offset ? `${file} (FAT partition at byte ${offset})` : file
    // mtools refuses images whose geometry it doubts unless told not to; no ~/.mtoolsrc needed
    this.env = { ...process.env, MTOOLS_SKIP_CHECK: '1', MTOOLS_NO_VFAT: '0' }
    const r = spawnSync('mdir', ['-b', '-i', this.target, '::/'], { env: this.env, encoding: 'utf8' })
    if (r.error) throw new FlashError(`cannot run mdir (install mtools): ${r.error.message}`)
    if (r.status !== 0) throw new FlashError(`${this.describe} is not a readable FAT file system: ${(r.stderr || r.stdout).trim().split('\n')[0]}`)
  }

  exists(path: string): boolean {
    return spawnSync('mdir', ['-b', '-i', this.target, `::/${path}`], { env: this.env, stdio: 'ignore' }).status === 0
  }

  read(path: string): Buffer | undefined {
    const r = spawnSync('mtype', ['-i', this.target, `::/${path}`], { env: this.env, maxBuffer: 1024 * 1024 * 1024 })
    return r.status === 0 ? r.stdout : undefined
  }

  write(path: string, data: Buffer | string): void {
    const parts = path.split('/')
    for (let i = 1; i < parts.length; i++) {
      const dir = parts.slice(0, i).join('/')
      if (!this.exists(dir)) this.mtools('mmd', ['-i', this.target, `::/${dir}`])
    }
    const tmp = mkdtempSync(join(tmpdir(), 'fm-flash-'))
    try {
      const src = join(tmp, 'f')
      writeFileSync(src, data)
      this.mtools('mcopy', ['-o', '-i', this.target, src, `::/${path}`])
    } finally {
      rmSync(tmp, { recursive: true, force: true })
    }
  }

  private mtools(cmd: string, args: string[]): void {
    try {
      execFileSync(cmd, args, { env: this.env, stdio: ['ignore', 'pipe', 'pipe'] })
    } catch (err) {
      const e = err as { stderr?: Buffer; message: string }
      const msg = (e.stderr?.toString() || e.message).trim().split('\n')[0] ?? ''
      throw new FlashError(`${cmd} on ${this.describe} failed: ${/Disk full/i.test(msg) ? 'the boot partition is full' : msg}`)
    }
  }
}
