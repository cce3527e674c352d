/**
 * Our in-memory WASI preview1 host: a job sees argv ["job"], an empty
 * environment, stdin (the job input), stdout and stderr, clocks and random
 * bytes, and nothing else.
 *
 * One host serves many runs: `begin()` resets it and returns the same import
 * object every time, so a worker builds the 46 host functions once, not per job.
 *
 * Ending a run early (proc_exit, output over the cap, a fatal signal) records a
 * `WasiStop` (./stop.ts) and throws it to unwind the guest. The record, not the throw, is
 * what counts: a module built with exception handling can `catch_all` the
 * throw, so every host function throws the stop again once it is set.
 */
import { ByteSink } from './byte-sink.ts'
import { GuestMemory } from './guest-memory.ts'
import { Errno, FDSTAT_SIZE, FILESTAT_SIZE, Filetype, IOV_MAX, IOVEC_SIZE, Rights, SIGNAL_MAX, SIGNALS_IGNORED } from './abi.ts'
import type { WasiImports } from './abi.ts'
import { clockResolution, cryptoRandom, realClock } from './sources.ts'
import type { ClockSource, RandomSource } from './sources.ts'
import { StdStreams, StreamKind } from './std-streams.ts'
import { WasiStop } from './stop.ts'
import type { StopReason } from './stop.ts'
import { unsupportedFunctions } from './unsupported.ts'
import type { StreamTable } from './unsupported.ts'

export interface WasiHostOptions {
  /** The running instance's exported memory; undefined before it exists. */
  memory: () => WebAssembly.Memory | undefined
  clock?: ClockSource
  random?: RandomSource
}

export interface StdioCaps {
  /** Most stdout bytes; one more ends the run with `output_limit`. */
  outputBytes: number
  /** Most stderr bytes kept; the rest is dropped silently. */
  stderrBytes: number
}

const ARGV0 = new TextEncoder().encode('job\0')
const STDERR_TEXT = new TextDecoder()

export class WasiHost implements StreamTable {
  readonly imports: WasiImports
  /** Set once the run has ended early; see the file comment. */
  stopped: WasiStop | null = null

  private readonly mem: GuestMemory
  private readonly clock: ClockSource
  private readonly random: RandomSource
  private readonly stdout = new ByteSink()
  private readonly stderr = new ByteSink()
  private stdin: Uint8Array = new Uint8Array(0)
  private stdinAt = 0
  private runStartNs = 0n
  private readonly fds = new StdStreams()
  // iovec (ptr, len) pairs copied out of guest memory before any data moves
  private readonly iov = new Uint32Array(IOV_MAX * 2)

  constructor(options: WasiHostOptions) {
    this.mem = new GuestMemory(options.memory)
    this.clock = options.clock ?? realClock
    this.random = options.random ?? cryptoRandom
    this.imports = Object.freeze({ ...unsupportedFunctions(this), ...this.supported() })
  }

  /** Resets the host for a new run and returns its `wasi_snapshot_preview1` imports. */
  begin(stdin: Uint8Array, caps: StdioCaps): WasiImports {
    this.stopped = null
    this.stdin = stdin
    this.stdinAt = 0
    this.stdout.reset(caps.outputBytes)
    this.stderr.reset(caps.stderrBytes)
    this.fds.reset()
    this.runStartNs = process.hrtime.bigint()
    return this.imports
  }

  /** Ends the run: hands over stdout (a buffer of its own) and stderr as text. */
  finish(): { stdout: Uint8Array; stderr: string } {
    const stderr = this.stderr.length === 0 ? '' : STDERR_TEXT.decode(this.stderr.take())
    const stdout = this.stdout.take()
    this.stdin = new Uint8Array(0)
    this.mem.release()
    return { stdout, stderr }
  }

  guard(): void {
    if (this.stopped !== null) throw this.stopped
  }

  isOpen(fd: number): boolean {
    return this.fds.isOpen(fd)
  }

  private stop(reason: StopReason, value: number): never {
    this.stopped = new WasiStop(reason, value)
    throw this.stopped
  }

  /**
   * Copies `count` iovecs at `ptr` into `this.iov`, checking each buffer lies in
   * memory. Returns the total length, or a negative errno.
   */
  private gather(ptr: number, count: number): number {
    const { mem } = this
    if (count > IOV_MAX) return -Errno.inval
    if (!mem.fits(ptr, count * IOVEC_SIZE)) return -Errno.fault
    let total = 0
    for (let i = 0; i < count; i++) {
      const buf = mem.dv.getUint32(ptr + i * IOVEC_SIZE, true)
      const len = mem.dv.getUint32(ptr + i * IOVEC_SIZE + 4, true)
      if (!mem.fits(buf, len)) return -Errno.fault
      this.iov[2 * i] = buf
      this.iov[2 * i + 1] = len
      total += len
    }
    return total
  }

  private fdRead(fd: number, iovs: number, count: number, nreadPtr: number): number {
    this.guard()
    fd >>>= 0
    if (this.fds.kind(fd) !== StreamKind.stdin) return Errno.badf
    if (!this.fds.has(fd, Rights.fdRead)) return Errno.notcapable
    const { mem } = this
    nreadPtr >>>= 0
    if (!mem.refresh() || !mem.fits(nreadPtr, 4)) return Errno.fault
    const total = this.gather(iovs >>> 0, count >>> 0)
    if (total < 0) return -total
    let read = 0
    for (let i = 0; i < count >>> 0 && this.stdinAt < this.stdin.length; i++) {
      const n = Math.min(this.iov[2 * i + 1] ?? 0, this.stdin.length - this.stdinAt)
      mem.u8.set(this.stdin.subarray(this.stdinAt, this.stdinAt + n), this.iov[2 * i] ?? 0)
      this.stdinAt += n
      read += n
    }
    mem.dv.setUint32(nreadPtr, read, true) // 0 at end of input: EOF
    return Errno.success
  }

  private fdWrite(fd: number, iovs: number, count: number, nwrittenPtr: number): number {
    this.guard()
    fd >>>= 0
    const kind = this.fds.kind(fd)
    if (kind !== StreamKind.stdout && kind !== StreamKind.stderr) return Errno.badf
    if (!this.fds.has(fd, Rights.fdWrite)) return Errno.notcapable
    const { mem } = this
    nwrittenPtr >>>= 0
    if (!mem.refresh() || !mem.fits(nwrittenPtr, 4)) return Errno.fault
    const total = this.gather(iovs >>> 0, count >>> 0)
    if (total < 0) return -total
    if (total > 0xffff_ffff) return Errno.inval // the count must fit the u32 result
    const sink = kind === StreamKind.stdout ? this.stdout : this.stderr
    if (kind === StreamKind.stdout && total > sink.room) this.stop('output_limit', sink.length + sink.room)
    // stderr keeps what fits and drops the rest; the guest still sees a full write
    let room = Math.min(total, sink.room)
    sink.reserve(room)
    for (let i = 0; room > 0; i++) {
      const buf = this.iov[2 * i] ?? 0
      const n = Math.min(this.iov[2 * i + 1] ?? 0, room)
      sink.append(mem.u8.subarray(buf, buf + n))
      room -= n
    }
    mem.dv.setUint32(nwrittenPtr, total, true)
    return Errno.success
  }

  /** Writes a u32 pair (argc/size style results). */
  private putSizes(aPtr: number, a: number, bPtr: number, b: number): number {
    const { mem } = this
    aPtr >>>= 0
    bPtr >>>= 0
    if (!mem.refresh() || !mem.fits(aPtr, 4) || !mem.fits(bPtr, 4)) return Errno.fault
    mem.dv.setUint32(aPtr, a, true)
    mem.dv.setUint32(bPtr, b, true)
    return Errno.success
  }

  private putU64(ptr: number, value: bigint): number {
    const { mem } = this
    ptr >>>= 0
    if (!mem.refresh() || !mem.fits(ptr, 8)) return Errno.fault
    mem.dv.setBigUint64(ptr, value, true)
    return Errno.success
  }

  /** Zeroes a record of `size` bytes at `ptr`, or returns false if it does not fit. */
  private record(ptr: number, size: number): boolean {
    const { mem } = this
    if (!mem.refresh() || !mem.fits(ptr, size)) return false
    mem.u8.fill(0, ptr, ptr + size)
    return true
  }

  private supported() {
    return {
      args_sizes_get: (argcPtr: number, bufSizePtr: number) => {
        this.guard()
        return this.putSizes(argcPtr, 1, bufSizePtr, ARGV0.length)
      },
      args_get: (argvPtr: number, bufPtr: number) => {
        this.guard()
        const { mem } = this
        argvPtr >>>= 0
        bufPtr >>>= 0
        if (!mem.refresh() || !mem.fits(argvPtr, 4) || !mem.fits(bufPtr, ARGV0.length)) return Errno.fault
        mem.u8.set(ARGV0, bufPtr)
        mem.dv.setUint32(argvPtr, bufPtr, true)
        return Errno.success
      },
      environ_sizes_get: (countPtr: number, bufSizePtr: number) => {
        this.guard()
        return this.putSizes(countPtr, 0, bufSizePtr, 0)
      },
      environ_get: () => {
        this.guard()
        return Errno.success // nothing to write for an empty environment
      },
      clock_res_get: (id: number, outPtr: number) => {
        this.guard()
        const resolution = clockResolution(id >>> 0)
        return resolution === undefined ? Errno.inval : this.putU64(outPtr, resolution)
      },
      clock_time_get: (id: number, _precision: bigint, outPtr: number) => {
        this.guard()
        const now = this.clock(id >>> 0, this.runStartNs)
        return now === undefined ? Errno.inval : this.putU64(outPtr, now)
      },
      random_get: (bufPtr: number, len: number) => {
        this.guard()
        bufPtr >>>= 0
        len >>>= 0
        if (!this.mem.refresh() || !this.mem.fits(bufPtr, len)) return Errno.fault
        this.random(this.mem.u8.subarray(bufPtr, bufPtr + len))
        return Errno.success
      },
      fd_read: (fd: number, iovs: number, count: number, nreadPtr: number) => this.fdRead(fd, iovs, count, nreadPtr),
      fd_write: (fd: number, iovs: number, count: number, nwrittenPtr: number) =>
        this.fdWrite(fd, iovs, count, nwrittenPtr),
      fd_close: (fd: number) => {
        this.guard()
        return this.fds.close(fd >>> 0)
      },
      fd_renumber: (from: number, to: number) => {
        this.guard()
        return this.fds.renumber(from >>> 0, to >>> 0)
      },
      fd_fdstat_get: (fd: number, outPtr: number) => {
        this.guard()
        fd >>>= 0
        outPtr >>>= 0
        if (!this.isOpen(fd)) return Errno.badf
        if (!this.record(outPtr, FDSTAT_SIZE)) return Errno.fault
        const { dv } = this.mem
        dv.setUint8(outPtr, Filetype.characterDevice)
        dv.setUint16(outPtr + 2, this.fds.flagsOf(fd), true)
        dv.setUint32(outPtr + 8, this.fds.rightsOf(fd), true) // rights_base, high half stays 0
        return Errno.success // rights_inheriting: none, nothing is opened through a stream
      },
      fd_fdstat_set_flags: (fd: number, flags: number) => {
        this.guard()
        return this.fds.setFlags(fd >>> 0, flags)
      },
      fd_fdstat_set_rights: (fd: number, base: bigint, inheriting: bigint) => {
        this.guard()
        return this.fds.setRights(fd >>> 0, base, inheriting)
      },
      fd_filestat_get: (fd: number, outPtr: number) => {
        this.guard()
        fd >>>= 0
        outPtr >>>= 0
        if (!this.isOpen(fd)) return Errno.badf
        if (!this.fds.has(fd, Rights.fdFilestatGet)) return Errno.notcapable
        if (!this.record(outPtr, FILESTAT_SIZE)) return Errno.fault
        this.mem.dv.setUint8(outPtr + 16, Filetype.characterDevice)
        this.mem.dv.setBigUint64(outPtr + 24, 1n, true) // nlink; dev, ino, size, times stay 0
        return Errno.success
      },
      proc_exit: (code: number): never => {
        this.guard()
        return this.stop('exit', code >>> 0)
      },
      proc_raise: (signal: number) => {
        this.guard()
        signal >>>= 0
        if (signal === 0 || signal > SIGNAL_MAX) return Errno.inval
        if (SIGNALS_IGNORED.has(signal)) return Errno.success
        // every other signal terminates (or stops, which for a job is the same)
        return this.stop('signal', signal)
      },
      sched_yield: () => {
        this.guard()
        return Errno.success
      },
    }
  }
}
