/**
 * The gateway contained, so that nothing in it can take the broker down: it
 * runs in a worker thread (default) or a child process, speaks to the broker
 * over MQTT as before (a worker given `link`: over a MessagePort into the
 * broker's thread, market/gateway-link.ts), and is started again (with a growing pause) when it
 * dies — an uncaught exception, a heap over `maxHeapMiB`, `process.exit` in
 * its code. The broker's process only ever sees an `exit` event.
 *
 * Why a worker thread by default (measured, see README "Limits"): it starts
 * several times faster than a child process and costs a fraction of the
 * memory (no second V8 + tsx), its heap is capped with `resourceLimits` so a
 * leak or a memory attack ends it and not the broker, and an uncaught
 * exception or `process.exit` in it ends only the thread. A child process
 * adds what a thread cannot: a native crash, or a busy loop that starves the
 * broker's thread of CPU at the OS level (the thread shares the process's
 * cores with the broker only through the scheduler, as a process would).
 */
import { fork, type ChildProcess } from 'node:child_process'
import { EventEmitter } from 'node:events'
import { Worker } from 'node:worker_threads'
import type { Duplex } from 'node:stream'
import { mergeOptions } from '../protocol/options.ts'
import type { GatewayOptions, GatewayStats } from './gateway.ts'
import { acceptLink, type LinkMessage } from './gateway-link.ts'

export type GatewayIsolation = 'worker' | 'process'

export interface SupervisorOptions {
  /** What the contained gateway is started with: plain data only (it crosses a thread or process boundary). */
  gateway: GatewayOptions & { broker: string }
  /** `worker` (default) or `process`. */
  isolation?: GatewayIsolation
  /** Heap cap of a worker gateway (MiB). Default 512. */
  maxHeapMiB?: number
  /** First pause before a restart (ms); doubles per crash in a row, up to 30 s. Default 200. */
  restartDelayMs?: number
  /** The entry module (default market/gateway-host.main; tests give one of their own). */
  entry?: URL
  /** Publish the gateway's telemetry (market/telemetry.ts) from inside it. Default false. */
  telemetry?: boolean
  /**
   * A worker gateway's broker in this process (`broker.handleLocal`): its MQTT connection then comes
   * over a MessagePort into this thread (market/gateway-link.ts) instead of loopback TCP to
   * `gateway.broker`. Ignored for a process gateway.
   */
  link?: (conn: Duplex) => void
}

const DEFAULTS = { isolation: 'worker' as GatewayIsolation, maxHeapMiB: 512, restartDelayMs: 200 }
const MAX_DELAY_MS = 30_000

export interface SupervisorEvents {
  ready: [{ starts: number }]
  /** The gateway died; `restartInMs` until the next start. */
  exit: [{ code: number | null; error: string | undefined; restartInMs: number }]
}

type Host = { kind: 'worker'; w: Worker } | { kind: 'process'; p: ChildProcess }

export class GatewaySupervisor extends EventEmitter<SupervisorEvents> {
  private host: Host | undefined
  private starts = 0
  private crashesInARow = 0
  private closing = false
  private restartTimer: NodeJS.Timeout | undefined
  private readonly opts: ReturnType<typeof mergeOptions<SupervisorOptions, typeof DEFAULTS>>
  private lastError: string | undefined

  private constructor(options: SupervisorOptions) {
    super()
    this.opts = mergeOptions(options, DEFAULTS, { maxHeapMiB: { min: 16, max: 65_536, integer: true }, restartDelayMs: { min: 1, max: MAX_DELAY_MS, integer: true } }, 'gatewaySupervisor')
  }

  /** Starts the contained gateway; resolves once it is ready (rejects if the first start fails). */
  static async start(options: SupervisorOptions): Promise<GatewaySupervisor> {
    const s = new GatewaySupervisor(options)
    await s.spawn()
    return s
  }

  get isolation(): GatewayIsolation {
    return this.opts.isolation
  }

  /** The pid of a process gateway, or the thread id of a worker one. */
  get hostId(): number | undefined {
    if (!this.host) return undefined
    return this.host.kind === 'worker' ? this.host.w.threadId : this.host.p.pid
  }

  private entry(): { url: URL; ts: boolean } {
    const url = this.opts.entry ?? new URL(import.meta.url.endsWith('.ts') ? './gateway-host.main.ts' : './gateway-host.main.js', import.meta.url)
    return { url, ts: url.pathname.endsWith('.ts') }
  }

  private spawn(): Promise<void> {
    const { url, ts } = this.entry()
    let host: Host
    if (this.opts.isolation === 'worker') {
      // tsx's loader does not reach a worker by itself (see agent/engine/worker/spawn.ts): register it inside
      const code = ts
        ? `import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))}).then((t) => { t.register(); return import(${JSON.stringify(url.href)}) })`
        : `import(${JSON.stringify(url.href)})`
      const w = new Worker(code, { eval: true, execArgv: [], resourceLimits: { maxOldGenerationSizeMb: this.opts.maxHeapMiB }, stdout: false, stderr: false })
      w.on('error', (err) => (this.lastError = err.message))
      host = { kind: 'worker', w }
    } else {
      const p = fork(url, [], { execArgv: ts ? ['--import', import.meta.resolve('tsx')] : [], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
      host = { kind: 'process', p }
    }
    this.host = host
    this.starts++
    return new Promise<void>((resolve, reject) => {
      let ready = false
      const onMessage = (m: { type: string; message?: string }) => {
        if (m.type === 'link' && this.opts.link && host.kind === 'worker') return acceptLink(m as unknown as LinkMessage, this.opts.link)
        if (m.type === 'ready') {
          ready = true
          this.crashesInARow = 0
          this.emit('ready', { starts: this.starts })
          resolve()
        } else if (m.type === 'failed') {
          this.lastError = m.message
          if (!ready) reject(new Error(`the gateway did not start: ${m.message}`))
          this.kill(host)
        }
      }
      const onExit = (code: number | null) => {
        if (this.host === host) this.host = undefined
        if (!ready) reject(new Error(`the gateway exited (${code}) before it was ready${this.lastError ? `: ${this.lastError}` : ''}`))
        if (this.closing) return
        this.crashesInARow++
        const restartInMs = Math.min(MAX_DELAY_MS, this.opts.restartDelayMs * 2 ** (this.crashesInARow - 1))
        this.emit('exit', { code, error: this.lastError, restartInMs })
        this.lastError = undefined
        if (ready) this.restartTimer = setTimeout(() => this.spawn().catch(() => {}), restartInMs)
      }
      if (host.kind === 'worker') {
        host.w.on('message', onMessage)
        host.w.once('exit', onExit)
        host.w.postMessage({ type: 'start', options: this.opts.gateway, telemetry: this.opts.telemetry === true, link: this.opts.link !== undefined })
      } else {
        host.p.on('message', onMessage)
        host.p.once('exit', (code) => onExit(code))
        host.p.send({ type: 'start', options: this.opts.gateway, telemetry: this.opts.telemetry === true })
      }
    })
  }

  private kill(host: Host): void {
    if (host.kind === 'worker') void host.w.terminate()
    else host.p.kill('SIGKILL')
  }

  /** The contained gateway's counters (undefined while it restarts). */
  stats(): Promise<GatewayStats | undefined> {
    const host = this.host
    if (!host) return Promise.resolve(undefined)
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(undefined), 2000)
      const on = (m: { type: string; stats?: GatewayStats }) => {
        if (m.type !== 'stats') return
        clearTimeout(timer)
        off()
        resolve(m.stats)
      }
      const off = () => (host.kind === 'worker' ? host.w.off('message', on) : host.p.off('message', on))
      if (host.kind === 'worker') {
        host.w.on('message', on)
        host.w.postMessage({ type: 'stats' })
      } else {
        host.p.on('message', on)
        host.p.send({ type: 'stats' })
      }
    })
  }

  /** Closes the gateway cleanly (its jobs in flight are answered as closed), then ends its thread or process. */
  async close(): Promise<void> {
    this.closing = true
    clearTimeout(this.restartTimer)
    const host = this.host
    if (!host) return
    const exited = new Promise<void>((r) => (host.kind === 'worker' ? host.w.once('exit', () => r()) : host.p.once('exit', () => r())))
    const force = setTimeout(() => this.kill(host), 5000)
    if (host.kind === 'worker') host.w.postMessage({ type: 'close' })
    else if (host.p.connected) host.p.send({ type: 'close' })
    else this.kill(host)
    await exited
    clearTimeout(force)
  }
}

export const superviseGateway = (options: SupervisorOptions) => GatewaySupervisor.start(options)
