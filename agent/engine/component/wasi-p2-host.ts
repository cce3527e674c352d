/**
 * Our in-memory WASI preview2 host for components, in the shape jco's generated JS
 * expects in instantiation mode: one object per interface, keyed by the interface name
 * without its version (`wasi:cli/stdin`), holding functions and resource classes with
 * camelCase names. It gives a job what our preview1 host (../wasi/host.ts) gives a
 * command, and nothing else:
 *
 * - wasi:cli: stdin (the job input), stdout, stderr, exit, arguments ["job"], an empty
 *   environment, no initial cwd, no terminals.
 * - wasi:io: streams, poll (everything is always ready: nothing here ever blocks), error.
 * - wasi:clocks: monotonic and wall clock, through the same ClockSource as preview1 (so
 *   deterministic mode covers components too). Timers are ready at once: a job cannot sleep.
 * - wasi:random: random, insecure, insecure-seed, through the same RandomSource.
 * - wasi:filesystem: the types and no preopened directory, so there is no descriptor to
 *   open anything through.
 * - no sockets, no http: a component importing them does not link (see prepare.ts).
 *
 * Ending a run early (exit, stdout over its cap) records a `WasiStop` and throws it
 * to unwind the guest; as in the preview1 host, the record is what counts, and every host
 * function throws it again once it is set. Values jco turns into a WASI `err` (stream
 * `closed`) are thrown as plain objects, never as `Error`s: jco's glue rethrows an Error
 * instead of lowering it.
 *
 * One host serves many runs: `begin()` resets it. The resource objects (streams,
 * pollables) are made per call, so nothing survives from one instance to the next.
 */
import { ByteSink } from '../wasi/byte-sink.ts'
import { ClockId } from '../wasi/abi.ts'
import type { StdioCaps } from '../wasi/host.ts'
import { WasiStop } from '../wasi/stop.ts'
import type { StopReason } from '../wasi/stop.ts'
import { clockResolution, cryptoRandom, realClock } from '../wasi/sources.ts'
import type { ClockSource, RandomSource } from '../wasi/sources.ts'

export interface WasiP2HostOptions {
  clock?: ClockSource
  random?: RandomSource
  /**
   * Told the bytes each successful transfer moved (stdin read, stdout/stderr write, random
   * bytes): the runner charges them as fuel, at the rate preview1's fd_read / fd_write /
   * random_get pay (instrument/costs.ts), so a host call cannot do unbounded work for the
   * 1 fuel of its `call`.
   */
  charge?: (bytes: number) => void
}

/**
 * Where stdout goes: `output` for a command (it is the job's output, under `outputBytes`);
 * `diagnostics` for a job-world component, whose output is what `run` returns: what it
 * prints is kept with stderr, under `stderrBytes`.
 */
export type StdoutRoute = 'output' | 'diagnostics'

/** The interfaces this host provides, without versions. */
export const PROVIDED_INTERFACES: readonly string[] = [
  'wasi:cli/environment',
  'wasi:cli/exit',
  'wasi:cli/stdin',
  'wasi:cli/stdout',
  'wasi:cli/stderr',
  'wasi:cli/terminal-input',
  'wasi:cli/terminal-output',
  'wasi:cli/terminal-stdin',
  'wasi:cli/terminal-stdout',
  'wasi:cli/terminal-stderr',
  'wasi:clocks/monotonic-clock',
  'wasi:clocks/wall-clock',
  'wasi:io/error',
  'wasi:io/poll',
  'wasi:io/streams',
  'wasi:random/random',
  'wasi:random/insecure',
  'wasi:random/insecure-seed',
  'wasi:filesystem/types',
  'wasi:filesystem/preopens',
]

export type HostInterfaces = Record<string, Record<string, unknown>>

/** Most bytes `check-write` allows at once; a bigger `write` is still taken (up to the caps). */
const WRITE_PERMIT = 1n << 20n
/** Most random bytes one call may ask for: more is a fault of the guest (a trap), not a host allocation failure. */
const RANDOM_MAX = 1 << 24
const EMPTY = new Uint8Array(0)
const STDERR_TEXT = new TextDecoder()

/** The stream error `closed` (end of stdin), as jco lowers it. */
const CLOSED = Object.freeze({ tag: 'closed' })

type Method = (this: unknown, ...args: never[]) => unknown

export class WasiP2Host {
  /** Interfaces for jco's `instantiate(getCoreModule, imports)`, built once. */
  readonly interfaces: HostInterfaces
  /** Set once the run has ended early; see the file comment. */
  stopped: WasiStop | null = null
  /** The first exception our own host code threw unexpectedly (a bug here, not a guest fault). */
  fault: unknown = null

  private readonly clock: ClockSource
  private readonly random: RandomSource
  private readonly charge: (bytes: number) => void
  private readonly stdout = new ByteSink()
  private readonly stderr = new ByteSink()
  private route: StdoutRoute = 'output'
  private stdin: Uint8Array = EMPTY
  private stdinAt = 0
  private runStartNs = 0n

  constructor(options: WasiP2HostOptions = {}) {
    this.clock = options.clock ?? realClock
    this.random = options.random ?? cryptoRandom
    this.charge = options.charge ?? (() => {})
    this.interfaces = this.build()
  }

  /** Resets the host for a new run. */
  begin(stdin: Uint8Array, caps: StdioCaps, route: StdoutRoute): void {
    this.stopped = null
    this.fault = null
    this.route = route
    this.stdin = stdin
    this.stdinAt = 0
    this.stdout.reset(caps.outputBytes)
    this.stderr.reset(caps.stderrBytes)
    this.runStartNs = process.hrtime.bigint()
  }

  /** Ends the run: hands over stdout (a buffer of its own) and stderr as text. */
  finish(): { stdout: Uint8Array; stderr: string } {
    const stderr = this.stderr.length === 0 ? '' : STDERR_TEXT.decode(this.stderr.take())
    const stdout = this.stdout.take()
    this.stdin = EMPTY
    return { stdout, stderr }
  }

  /** Appends text to the kept stderr (what fits). */
  note(text: string): void {
    this.keep(this.stderr, new TextEncoder().encode(text))
  }

  private guard(): void {
    if (this.stopped !== null) throw this.stopped
  }

  private stop(reason: Exclude<StopReason, 'signal'>, value: number): never {
    this.stopped = new WasiStop(reason, value)
    throw this.stopped
  }

  /** Keeps what fits of `bytes` in `sink`, drops the rest (stderr). */
  private keep(sink: ByteSink, bytes: Uint8Array): void {
    const n = Math.min(bytes.length, sink.room)
    if (n === 0) return
    sink.reserve(n)
    sink.append(n === bytes.length ? bytes : bytes.subarray(0, n))
  }

  private writeTo(stream: 'stdout' | 'stderr', bytes: Uint8Array): void {
    if (stream === 'stdout' && this.route === 'output') {
      const sink = this.stdout
      if (bytes.length > sink.room) this.stop('output_limit', sink.length + sink.room)
      if (bytes.length === 0) return
      sink.reserve(bytes.length)
      sink.append(bytes)
      this.charge(bytes.length)
      return
    }
    this.keep(this.stderr, bytes)
    this.charge(bytes.length) // taken, even if the cap drops some of it
  }

  private readStdin(len: bigint): Uint8Array {
    const left = this.stdin.length - this.stdinAt
    if (left === 0) throw CLOSED
    const n = len < BigInt(left) ? Number(len) : left
    const bytes = this.stdin.subarray(this.stdinAt, this.stdinAt + n)
    this.stdinAt += n
    this.charge(n)
    return bytes
  }

  private randomBytes(len: bigint): Uint8Array {
    if (len > BigInt(RANDOM_MAX)) throw new WebAssembly.RuntimeError(`random request of ${len} bytes is over ${RANDOM_MAX}`)
    const bytes = new Uint8Array(Number(len))
    this.random(bytes)
    this.charge(bytes.length)
    return bytes
  }

  private randomU64(): bigint {
    const bytes = new Uint8Array(8)
    this.random(bytes)
    this.charge(8)
    return new DataView(bytes.buffer).getBigUint64(0, true)
  }

  private nowNs(id: number): bigint {
    return this.clock(id, this.runStartNs) ?? 0n
  }

  /**
   * Wraps a host function: it first throws the stop if the run has ended (a guest that
   * caught the unwind gets it again), and remembers exceptions that are neither ours on
   * purpose (a stop, a WASI error value, a guest fault) nor expected: bugs of this host.
   */
  private guarded<F extends Method>(fn: F): F {
    const host = this
    const wrapped = function (this: unknown, ...args: never[]): unknown {
      host.guard()
      try {
        return fn.apply(this, args)
      } catch (err) {
        if (err instanceof Error && !(err instanceof WasiStop) && !(err instanceof WebAssembly.RuntimeError)) {
          host.fault ??= err
        }
        throw err
      }
    }
    return wrapped as F
  }

  /** Guards every method of a resource class's prototype (see `guarded`). */
  private guardClass<C extends abstract new (...args: never[]) => object>(cls: C): C {
    const proto = cls.prototype as Record<string, unknown>
    for (const name of Object.getOwnPropertyNames(proto)) {
      const fn = proto[name]
      if (name !== 'constructor' && typeof fn === 'function') proto[name] = this.guarded(fn as Method)
    }
    return cls
  }

  private guardAll(functions: Record<string, unknown>): Record<string, unknown> {
    const out: Record<string, unknown> = {}
    for (const [name, value] of Object.entries(functions)) {
      // classes (resources) are guarded method by method; functions as a whole
      out[name] = typeof value === 'function' && !/^[A-Z]/.test(name) ? this.guarded(value as Method) : value
    }
    return Object.freeze(out)
  }

  private build(): HostInterfaces {
    const host = this

    // --- wasi:io ---------------------------------------------------------------------------
    class IoError {
      toDebugString(): string {
        return 'io error'
      }
    }
    /** Everything is ready at once: stdin is all there, writes never wait, timers do not sleep. */
    class Pollable {
      ready(): boolean {
        return true
      }
      block(): void {}
    }
    class InputStream {
      read(len: bigint): Uint8Array {
        return host.readStdin(len)
      }
      blockingRead(len: bigint): Uint8Array {
        return host.readStdin(len)
      }
      skip(len: bigint): bigint {
        return BigInt(host.readStdin(len).length)
      }
      blockingSkip(len: bigint): bigint {
        return BigInt(host.readStdin(len).length)
      }
      subscribe(): Pollable {
        return new Pollable()
      }
    }
    class OutputStream {
      constructor(private readonly stream: 'stdout' | 'stderr') {}
      checkWrite(): bigint {
        return WRITE_PERMIT
      }
      write(contents: Uint8Array): void {
        host.writeTo(this.stream, contents)
      }
      blockingWriteAndFlush(contents: Uint8Array): void {
        host.writeTo(this.stream, contents)
      }
      flush(): void {}
      blockingFlush(): void {}
      subscribe(): Pollable {
        return new Pollable()
      }
      writeZeroes(len: bigint): void {
        host.writeTo(this.stream, zeroes(len))
      }
      blockingWriteZeroesAndFlush(len: bigint): void {
        host.writeTo(this.stream, zeroes(len))
      }
      splice(src: InputStream, len: bigint): bigint {
        const bytes = src.read(len)
        host.writeTo(this.stream, bytes)
        return BigInt(bytes.length)
      }
      blockingSplice(src: InputStream, len: bigint): bigint {
        return this.splice(src, len)
      }
    }
    /** Zero bytes for write-zeroes; over the caps it stops or is dropped like any write. */
    const zeroes = (len: bigint): Uint8Array => {
      const cap = host.route === 'output' ? host.stdout.room + 1 : host.stderr.room
      return new Uint8Array(len < BigInt(cap) ? Number(len) : cap)
    }

    // --- wasi:cli terminals: a job has none ---------------------------------------------------
    class TerminalInput {}
    class TerminalOutput {}

    // --- wasi:filesystem: the types, and nothing to open them with ------------------------------
    class Descriptor {}
    class DirectoryEntryStream {
      readDirectoryEntry(): undefined {
        return undefined
      }
    }

    for (const cls of [IoError, Pollable, InputStream, OutputStream, TerminalInput, TerminalOutput, Descriptor, DirectoryEntryStream]) {
      this.guardClass(cls)
    }

    const wallNow = () => {
      const ns = host.nowNs(ClockId.realtime)
      return { seconds: ns / 1_000_000_000n, nanoseconds: Number(ns % 1_000_000_000n) }
    }
    const monotonicResolution = clockResolution(ClockId.monotonic) ?? 1n
    const wallResolution = clockResolution(ClockId.realtime) ?? 1n

    const interfaces: HostInterfaces = {
      'wasi:cli/environment': {
        getEnvironment: (): Array<[string, string]> => [],
        getArguments: (): string[] => ['job'],
        initialCwd: (): string | undefined => undefined,
      },
      'wasi:cli/exit': {
        exit: (status: { tag: 'ok' | 'err' }): never => host.stop('exit', status.tag === 'ok' ? 0 : 1),
        exitWithCode: (code: number): never => host.stop('exit', code & 0xff),
      },
      'wasi:cli/stdin': { getStdin: () => new InputStream() },
      'wasi:cli/stdout': { getStdout: () => new OutputStream('stdout') },
      'wasi:cli/stderr': { getStderr: () => new OutputStream('stderr') },
      'wasi:cli/terminal-input': { TerminalInput },
      'wasi:cli/terminal-output': { TerminalOutput },
      'wasi:cli/terminal-stdin': { getTerminalStdin: (): undefined => undefined },
      'wasi:cli/terminal-stdout': { getTerminalStdout: (): undefined => undefined },
      'wasi:cli/terminal-stderr': { getTerminalStderr: (): undefined => undefined },
      'wasi:clocks/monotonic-clock': {
        now: (): bigint => host.nowNs(ClockId.monotonic),
        resolution: (): bigint => monotonicResolution,
        subscribeInstant: (_when: bigint) => new Pollable(),
        subscribeDuration: (_duration: bigint) => new Pollable(),
      },
      'wasi:clocks/wall-clock': {
        now: wallNow,
        resolution: () => ({ seconds: 0n, nanoseconds: Number(wallResolution) }),
      },
      'wasi:io/error': { Error: IoError },
      'wasi:io/poll': {
        Pollable,
        poll: (pollables: Pollable[]): Uint32Array => Uint32Array.from(pollables.keys()),
      },
      'wasi:io/streams': { InputStream, OutputStream },
      'wasi:random/random': {
        getRandomBytes: (len: bigint): Uint8Array => host.randomBytes(len),
        getRandomU64: (): bigint => host.randomU64(),
      },
      'wasi:random/insecure': {
        getInsecureRandomBytes: (len: bigint): Uint8Array => host.randomBytes(len),
        getInsecureRandomU64: (): bigint => host.randomU64(),
      },
      'wasi:random/insecure-seed': {
        insecureSeed: (): [bigint, bigint] => [host.randomU64(), host.randomU64()],
      },
      'wasi:filesystem/types': {
        Descriptor,
        DirectoryEntryStream,
        filesystemErrorCode: (_err: IoError): undefined => undefined,
      },
      'wasi:filesystem/preopens': {
        getDirectories: (): Array<[Descriptor, string]> => [],
      },
    }
    const guardedInterfaces: HostInterfaces = {}
    for (const [name, members] of Object.entries(interfaces)) guardedInterfaces[name] = this.guardAll(members)
    return Object.freeze(guardedInterfaces)
  }
}
