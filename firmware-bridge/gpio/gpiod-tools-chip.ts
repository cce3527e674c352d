/**
 * GPIO through the kernel's character device, driven by Debian's libgpiod
 * command-line tools (package `gpiod`; both CLI generations):
 *
 * - inputs: `gpiomon` runs for the life of the input and prints one line per
 *   edge with the kernel's timestamp (`-F`), so debounce works on kernel time,
 *   not on pipe arrival time; the initial level comes from `gpioget` first;
 * - outputs: a line keeps its level only while a process holds it, so a
 *   `gpioset` stays running per output. libgpiod v2 built with interactive
 *   mode takes `set <line>=<v>` on stdin (no release between levels); otherwise
 *   (v1, or v2 without `-i`) a new level means stopping the holder and starting
 *   another, during which the line is released for one process start (see the
 *   README for the figure).
 *
 * If `gpiomon` dies, it is restarted after `restartMs` and the failure goes to `onError`.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { ErrorCode, FogmeshError } from '../../protocol/errors.ts'
import type { Edge, GpioChip, GpioInput, GpioOutput, InputSpec, Level, OutputSpec } from './gpio.ts'

export interface GpiodToolsOptions {
  /** Chip name (`gpiochip0`), number, or path (`/dev/gpiochip4`). */
  chip: string
  restartMs?: number
  /** Environment for the tools (PATH decides which `gpioset` runs). */
  env?: NodeJS.ProcessEnv
}

interface ToolInfo {
  major: 1 | 2
  interactive: boolean
}

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv | undefined): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => (stdout += d))
    child.stderr.on('data', (d) => (stderr += d))
    child.on('error', (err: NodeJS.ErrnoException) =>
      reject(err.code === 'ENOENT' ? new FogmeshError(ErrorCode.usage, `${cmd} not found: install the libgpiod tools (apt-get install gpiod)`) : err),
    )
    child.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr }))
  })
}

export async function detectGpiodTools(env?: NodeJS.ProcessEnv): Promise<ToolInfo> {
  const v = await run('gpioset', ['--version'], env)
  const m = /v(\d+)\.\d+/.exec(v.stdout + v.stderr)
  if (v.code !== 0 || !m) throw new FogmeshError(ErrorCode.usage, `gpioset --version did not name a libgpiod version: ${(v.stdout + v.stderr).trim().slice(0, 120)}`)
  const major = Number(m[1]) >= 2 ? 2 : 1
  const interactive = major === 2 && /--interactive/.test((await run('gpioset', ['--help'], env)).stdout)
  return { major, interactive }
}

const firstLine = (s: string) => s.trim().split('\n')[0] ?? ''

export class GpiodToolsChip implements GpioChip {
  readonly driver = 'gpiod' as const
  private readonly children = new Set<ChildProcess>()
  private closed = false

  private constructor(private readonly options: GpiodToolsOptions, readonly tools: ToolInfo) {}

  static async open(options: GpiodToolsOptions): Promise<GpiodToolsChip> {
    return new GpiodToolsChip(options, await detectGpiodTools(options.env))
  }

  private chipArgs(): string[] {
    return this.tools.major === 2 ? ['-c', this.options.chip] : [this.options.chip]
  }

  private flagArgs(spec: { bias?: InputSpec['bias']; activeLow?: boolean }): string[] {
    const out: string[] = []
    if (spec.activeLow) out.push('-l')
    if (spec.bias && spec.bias !== 'as-is') {
      if (this.tools.major === 2) out.push('-b', spec.bias === 'disable' ? 'disabled' : spec.bias)
      else out.push('-B', spec.bias)
    }
    return out
  }

  private spawnTool(cmd: string, args: string[], stdin: 'ignore' | 'pipe'): ChildProcess {
    const child = spawn(cmd, args, { env: this.options.env, stdio: [stdin, 'pipe', 'pipe'] })
    this.children.add(child)
    child.on('exit', () => this.children.delete(child))
    child.on('error', () => {})
    return child
  }

  async input(spec: InputSpec, onEdge: (e: Edge) => void, onError: (e: Error) => void = () => {}): Promise<GpioInput> {
    const get = await run('gpioget', [...this.flagArgs(spec), ...this.chipArgs(), String(spec.line)], this.options.env)
    const level = /(inactive|active|[01])\s*$/.exec(get.stdout.trim())
    if (get.code !== 0 || !level) throw new FogmeshError(ErrorCode.usage, `gpioget ${this.options.chip} ${spec.line} failed: ${firstLine(get.stderr || get.stdout)}`)
    let value: Level = level[1] === '1' || level[1] === 'active' ? 1 : 0
    const fmt = this.tools.major === 2 ? '%o %e %S' : '%o %e %s %n'
    const args = [...this.flagArgs(spec), ...(this.tools.major === 1 ? ['-b'] : []), '-F', fmt, ...this.chipArgs(), String(spec.line)]
    let child: ChildProcess | undefined
    let stopped = false
    let restartTimer: NodeJS.Timeout | undefined
    const start = () => {
      if (stopped || this.closed) return
      const c = this.spawnTool('gpiomon', args, 'ignore')
      child = c
      let buf = ''
      let stderr = ''
      c.stderr?.on('data', (d) => (stderr = (stderr + d).slice(-500)))
      c.stdout?.on('data', (d) => {
        buf += d
        if (buf.length > 64 * 1024) buf = buf.slice(-1024) // a tool gone mad must not grow memory
        let nl: number
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl).trim()
          buf = buf.slice(nl + 1)
          const e = this.parseEvent(line, spec.line)
          if (e) {
            value = e.value
            onEdge(e)
          }
        }
      })
      c.on('exit', (code, signal) => {
        if (stopped || this.closed) return
        onError(new FogmeshError(ErrorCode.closed, `gpiomon for line ${spec.line} exited (${signal ?? code}): ${firstLine(stderr)}`))
        restartTimer = setTimeout(start, this.options.restartMs ?? 1000)
      })
    }
    start()
    return {
      get value() {
        return value
      },
      close: async () => {
        stopped = true
        clearTimeout(restartTimer)
        await stop(child)
      },
    }
  }

  /** `17 1 1234 567890123` (v1: offset, 1 rising/0 falling, s, ns) or `17 1 1234.567890123` (v2: 1 rising/2 falling). */
  private parseEvent(line: string, expected: number): Edge | undefined {
    const p = line.split(/\s+/)
    if (Number(p[0]) !== expected) return undefined
    if (this.tools.major === 2) {
      if (p.length !== 3 || (p[1] !== '1' && p[1] !== '2')) return undefined
      return { line: expected, value: p[1] === '1' ? 1 : 0, timeMs: Number(p[2]) * 1000 }
    }
    if (p.length !== 4 || (p[1] !== '0' && p[1] !== '1')) return undefined
    return { line: expected, value: p[1] === '1' ? 1 : 0, timeMs: Number(p[2]) * 1000 + Number(p[3]) / 1e6 }
  }

  async output(spec: OutputSpec): Promise<GpioOutput> {
    const holdArgs = (v: Level) => [
      ...this.flagArgs(spec),
      ...(this.tools.major === 1 ? ['--mode=signal'] : ['--banner']),
      ...(this.tools.interactive ? ['-i'] : []),
      ...this.chipArgs(),
      `${spec.line}=${v}`,
    ]
    let holder = await this.startHolder(holdArgs(spec.initial))
    let value = spec.initial
    let chain: Promise<void> = Promise.resolve()
    return {
      get value() {
        return value
      },
      set: (v) => {
        const next = chain.then(async () => {
          if (this.tools.interactive && holder.exitCode === null) {
            holder.stdin?.write(`set ${spec.line}=${v}\n`)
          } else {
            await stop(holder)
            holder = await this.startHolder(holdArgs(v))
          }
          value = v
        })
        chain = next.catch(() => {})
        return next
      },
      close: async () => {
        await chain
        await stop(holder)
      },
    }
  }

  /** Starts a `gpioset` that holds its line; resolves once it is holding (v2 banner, or still alive after 100 ms for v1). */
  private startHolder(args: string[]): Promise<ChildProcess> {
    const child = this.spawnTool('gpioset', args, this.tools.interactive ? 'pipe' : 'ignore')
    return new Promise((resolve, reject) => {
      let stderr = ''
      child.stderr?.on('data', (d) => (stderr = (stderr + d).slice(-500)))
      const ok = () => {
        cleanup()
        resolve(child)
      }
      const failed = (code: number | null) => {
        cleanup()
        reject(new FogmeshError(ErrorCode.usage, `gpioset ${args.join(' ')} failed (${code}): ${firstLine(stderr)}`))
      }
      const timer = this.tools.major === 1 ? setTimeout(ok, 100) : undefined
      const onOut = (d: Buffer) => {
        if (/Setting line/.test(String(d))) ok()
      }
      const cleanup = () => {
        clearTimeout(timer)
        child.off('exit', failed)
        child.stdout?.off('data', onOut)
      }
      child.stdout?.on('data', onOut)
      child.stdout?.resume()
      child.on('exit', failed)
    })
  }

  async close(): Promise<void> {
    this.closed = true
    await Promise.all([...this.children].map((c) => stop(c)))
  }
}

function stop(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return Promise.resolve()
  return new Promise((resolve) => {
    child.once('exit', () => resolve())
    child.kill('SIGTERM')
  })
}
