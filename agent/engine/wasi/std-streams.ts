/**
 * A job's descriptor table: fds 0, 1 and 2 and nothing else. Each fd refers
 * to one of the three streams (close and renumber can move or drop them) and
 * holds its rights and fdflags. Fds arrive from the guest unsigned.
 */
import { Errno, FDFLAGS_ALL, Rights } from './abi.ts'

export const StreamKind = { closed: 0, stdin: 1, stdout: 2, stderr: 3 } as const
export type StreamKind = (typeof StreamKind)[keyof typeof StreamKind]

const FDS = 3
const STDIN_RIGHTS = Rights.fdRead | Rights.fdFdstatSetFlags | Rights.fdFilestatGet | Rights.pollFdReadwrite
const STDOUT_RIGHTS = Rights.fdWrite | Rights.fdFdstatSetFlags | Rights.fdFilestatGet | Rights.pollFdReadwrite

export class StdStreams {
  private readonly kinds = new Uint8Array(FDS)
  /** Rights bits of the std streams all lie below bit 32: kept as u32. */
  private readonly rights = new Uint32Array(FDS)
  private readonly flags = new Uint16Array(FDS)

  reset(): void {
    this.kinds[0] = StreamKind.stdin
    this.kinds[1] = StreamKind.stdout
    this.kinds[2] = StreamKind.stderr
    this.rights[0] = STDIN_RIGHTS
    this.rights[1] = STDOUT_RIGHTS
    this.rights[2] = STDOUT_RIGHTS
    this.flags.fill(0)
  }

  /** What `fd` refers to; `closed` for a closed or unknown fd. */
  kind(fd: number): StreamKind {
    return fd < FDS ? ((this.kinds[fd] ?? StreamKind.closed) as StreamKind) : StreamKind.closed
  }

  isOpen(fd: number): boolean {
    return this.kind(fd) !== StreamKind.closed
  }

  /** Whether open `fd` holds `right` (one of `Rights`). */
  has(fd: number, right: number): boolean {
    return ((this.rights[fd] ?? 0) & right) !== 0
  }

  rightsOf(fd: number): number {
    return this.rights[fd] ?? 0
  }

  flagsOf(fd: number): number {
    return this.flags[fd] ?? 0
  }

  close(fd: number): number {
    if (!this.isOpen(fd)) return Errno.badf
    this.kinds[fd] = StreamKind.closed
    return Errno.success
  }

  /** Makes `to` refer to what `from` referred to, and closes `from`. */
  renumber(from: number, to: number): number {
    if (!this.isOpen(from) || !this.isOpen(to)) return Errno.badf
    if (from === to) return Errno.success
    this.kinds[to] = this.kind(from)
    this.rights[to] = this.rightsOf(from)
    this.flags[to] = this.flagsOf(from)
    this.kinds[from] = StreamKind.closed
    return Errno.success
  }

  setFlags(fd: number, flags: number): number {
    if (!this.isOpen(fd)) return Errno.badf
    if (!this.has(fd, Rights.fdFdstatSetFlags)) return Errno.notcapable
    if ((flags >>> 0) & ~FDFLAGS_ALL) return Errno.inval
    this.flags[fd] = flags
    return Errno.success
  }

  /** Rights can only be dropped; the std streams have nothing inheritable. */
  setRights(fd: number, base: bigint, inheriting: bigint): number {
    if (!this.isOpen(fd)) return Errno.badf
    const wanted = BigInt.asUintN(64, base)
    if ((wanted & ~BigInt(this.rightsOf(fd))) !== 0n || BigInt.asUintN(64, inheriting) !== 0n) return Errno.notcapable
    this.rights[fd] = Number(wanted)
    return Errno.success
  }
}
