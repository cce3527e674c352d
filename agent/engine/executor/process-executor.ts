/**
 * Runs job code in a separate executor process (executor.main.ts) that holds
 * no keys, no wallet and no data dir, and — when the agent runs as root — not
 * even the agent's uid. The agent talks to it over IPC, batched per turn.
 *
 * A dead executor is replaced: its in-flight jobs are answered `internal`
 * (the requester retries them elsewhere), modules are loaded again into the
 * new one. A wedged executor — a job past its deadline plus a grace period
 * with no answer, meaning the pool could not even terminate its worker — is
 * killed with SIGKILL and replaced; that job is answered `deadline`.
 *
 * Run as another user, the executor gets its code through descriptors the agent opened
 * (code-view.ts), so it starts even when the checkout sits where that user cannot go
 * (a clone under /root).
 */
import { fork, spawn, type ChildProcess, type StdioOptions } from 'node:child_process'
import { tmpdir } from 'node:os'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { ErrorCode, JobError } from '../../../protocol/errors.ts'
import { mergeOptions } from '../../../protocol/options.ts'
import type { Merged } from '../../../protocol/options.ts'
import { DEFAULT_INLINE_FUEL } from '../worker/inline-slice.ts'
import { WORKER_POOL_RANGES } from '../worker/pool.ts'
import { openCodeView } from './code-view.ts'
import { setprivPrefix } from './executor-user.ts'
import type { CodeView } from './code-view.ts'
import { Outbox, type FromExecutor, type ToExecutor, type Wire } from './ipc.ts'
import { readFrames } from './run-frames.ts'
import type { Executor, ExecutorStats, ModuleInfo, RunOutcome, RunRequest } from '../executor.ts'

export interface ProcessExecutorOptions {
  /** Jobs run at once (worker threads inside the executor): a whole number, at least 1. */
  size: number
  /** Jobs that may wait for a worker (see WorkerPoolOptions). Default: 64 per slot. */
  queueLimit?: number
  /** Time past a job's deadline after which the executor counts as wedged. Default 2000 ms. */
  watchdogGraceMs?: number
  /** Run the executor as this uid/gid. Default: `nobody` (65534) when the agent is root, else the agent's own. */
  user?: { uid: number; gid: number } | 'same'
  /** Worker threads the executor starts up front; the rest start when jobs need them. Default: `size`. */
  warm?: number
  /** Node flags for the executor process; default: the agent's own memory flags (`--max-semi-space-size=`, ...). */
  nodeFlags?: string[]
  /**
   * Fuel slice of the optimistic first try of a tiny metered job on the executor's main
   * thread, before a worker (../worker/inline-slice.ts); 0: every job goes to a worker.
   * Default DEFAULT_INLINE_FUEL.
   */
  inlineFuel?: number
}

interface Pending {
  request: RunRequest
  resolve: (o: RunOutcome) => void
  /** When (performance.now()) the executor counts as wedged if this job is still unanswered. */
  deadline: number
}

const NOBODY = { uid: 65534, gid: 65534 }
/** The checkout this file belongs to: what the executor process loads its code from. */
const CHECKOUT = fileURLToPath(new URL('../../../', import.meta.url))
/** Executors that die within this window, in a row, mean something is wrong with the host: stop restarting. */
const MAX_QUICK_DEATHS = 5
/** Executors that die while one module is loading, after which that module is given up: it is what kills them. */
const MAX_DEATHS_WHILE_LOADING = 2

export class ProcessExecutor implements Executor {
  readonly slots: number
  private child!: ChildProcess
  private outbox!: Outbox<ToExecutor>
  private readyP!: Promise<{ pid: number; uid: number }>
  private readonly pending = new Map<number, Pending>()
  /**
   * One watchdog timer for every pending job, armed for the earliest deadline (not a timer per
   * job: two timer-list operations per job on the hot path); `watchAt` is when it fires.
   */
  private watchdog: NodeJS.Timeout | undefined = undefined
  private watchAt = Infinity
  /** Every module loaded or loading, by sha256; `deaths`: executors that died while it was loading. */
  private readonly modules = new Map<string, { bytes: Uint8Array; info?: ModuleInfo; deaths: number }>()
  private readonly loading = new Map<string, { resolve: (i: ModuleInfo) => void; reject: (e: Error) => void }[]>()
  private next = 1
  private closing = false
  private quickDeaths = 0
  private readonly counts = { completed: 0, failed: 0, restarts: 0 }

  private readonly options: Merged<ProcessExecutorOptions, { watchdogGraceMs: number; inlineFuel: number }>
  private readonly queueLimit: number
  /** The executor's uid and gid, when it runs as another user than the agent. */
  private readonly user: { uid: number; gid: number } | undefined
  /** Its code, then, as that user can read it. */
  private readonly view: CodeView | undefined

  constructor(options: ProcessExecutorOptions) {
    this.options = mergeOptions(options, { watchdogGraceMs: 2000, inlineFuel: DEFAULT_INLINE_FUEL }, { ...WORKER_POOL_RANGES, watchdogGraceMs: { min: 0 } }, 'processExecutor')
    this.slots = this.options.size
    this.queueLimit = this.options.queueLimit ?? this.slots * 64
    const user = this.options.user
    this.user = user === 'same' ? undefined : (user ?? (process.getuid?.() === 0 ? NOBODY : undefined))
    // from a checkout (tsx); a bundle is installed where its executor's user can read it (install.sh)
    this.view = this.user === undefined || !import.meta.url.endsWith('.ts') ? undefined : openCodeView(CHECKOUT)
    this.spawn()
  }

  /** Resolves once the executor process is up; tells its pid and uid. */
  ready(): Promise<{ pid: number; uid: number }> {
    return this.readyP
  }

  get pid(): number | undefined {
    return this.child.pid
  }

  private spawn(): void {
    const { user, view } = this
    const seen = (path: string) => (view ? view.map(path) : path)
    const isTs = import.meta.url.endsWith('.ts')
    const entry = seen(fileURLToPath(new URL(isTs ? './executor.main.ts' : './executor.main.js', import.meta.url)))
    const execArgv = view ? ['--preserve-symlinks', '--preserve-symlinks-main'] : []
    if (isTs) execArgv.push('--import', pathToFileURL(seen(fileURLToPath(import.meta.resolve('tsx')))).href)
    const args = [String(this.slots), String(this.queueLimit), String(this.options.warm ?? this.slots), String(this.options.inlineFuel)]
    const execPath = view?.execPath ?? process.execPath
    const common = {
      serialization: 'advanced' as const,
      env: {}, // nothing of the agent's environment (tokens, RPC URLs, key paths) crosses over
      cwd: tmpdir(),
      stdio: ['ignore', 'ignore', 'ignore', 'ipc', ...(view?.fds ?? [])] as StdioOptions,
    }
    // an unprivileged agent holding CAP_SETUID/CAP_SETGID (the systemd unit) switches users through
    // setpriv, which also drops every capability; Node's uid option would leave them to the executor
    const prefix = user ? setprivPrefix(user) : undefined
    const child = prefix
      ? spawn(prefix[0]!, [...prefix.slice(1), execPath, ...this.nodeFlags(), ...execArgv, entry, ...args], common)
      : fork(entry, args, { ...common, execArgv: [...this.nodeFlags(), ...execArgv], execPath, ...(user ? { uid: user.uid, gid: user.gid } : {}) })
    this.child = child
    // a send to an executor that just died fails here; its 'exit' does the recovery
    child.on('error', () => {})
    this.outbox = new Outbox<ToExecutor>((message) => {
      if (child.connected) child.send(message)
    })
    const started = Date.now()
    this.readyP = new Promise((resolve, reject) => {
      const onMessage = (message: Wire<FromExecutor>) => {
        try {
          if (message instanceof Uint8Array) readFrames(message, this.frames)
          else for (const m of message) this.onMessage(m, resolve)
        } catch {
          // not what an executor of ours sends (code that escaped a job?): replace it, its jobs are answered `internal`
          child.kill('SIGKILL')
        }
      }
      child.on('message', onMessage)
      child.once('exit', (code, signal) => {
        const as = user ? ` (running as uid ${user.uid})` : ''
        reject(new JobError(ErrorCode.internal, `executor exited (${signal ?? code}) before it was ready${as}`))
        this.onExit(child, Date.now() - started)
      })
    })
    this.readyP.catch(() => {})
    // modules known before this executor was started are loaded into it
    for (const [sha256, m] of this.modules) this.outbox.push({ t: 'load', sha256, bytes: m.bytes })
  }

  /**
   * V8 flags of the agent that suit the executor too: memory (a bundle's launcher sets them)
   * and CPU profiling (an agent started with --cpu-prof profiles its executor as well).
   */
  private nodeFlags(): string[] {
    return this.options.nodeFlags ?? process.execArgv.filter((a) => /^--(max-semi-space-size=|max-old-space-size=|stack-size=|optimize-for-size$|cpu-prof$|cpu-prof-dir=|cpu-prof-interval=)/.test(a))
  }

  /** What the executor's frames say: answers (it sends no runs). */
  private readonly frames = {
    run: () => {},
    done: (n: number, outcome: RunOutcome) => this.finish(n, outcome),
  }

  private onMessage(m: FromExecutor, ready: (r: { pid: number; uid: number }) => void): void {
    switch (m.t) {
      case 'ready':
        this.quickDeaths = 0
        ready({ pid: m.pid, uid: m.uid })
        return
      case 'loaded': {
        const known = this.modules.get(m.sha256)
        if (known) known.info = m.info
        for (const w of this.loading.get(m.sha256) ?? []) w.resolve(m.info)
        this.loading.delete(m.sha256)
        return
      }
      case 'loadFailed': {
        this.modules.delete(m.sha256)
        const err = new JobError(m.code as ErrorCode, m.message)
        for (const w of this.loading.get(m.sha256) ?? []) w.reject(err)
        this.loading.delete(m.sha256)
        return
      }
    }
  }

  private finish(n: number, outcome: RunOutcome): void {
    const p = this.pending.get(n)
    if (!p) return
    this.pending.delete(n)
    if (outcome.status === 'ok') this.counts.completed++
    else this.counts.failed++
    p.resolve(outcome)
  }

  private onExit(child: ChildProcess, livedMs: number): void {
    if (child !== this.child) return
    const crashed: RunOutcome = { status: 'error', code: ErrorCode.internal, message: 'executor process died', stderr: '', fuel: 0, durationMs: 0 }
    for (const n of [...this.pending.keys()]) this.finish(n, crashed)
    for (const [sha, waiters] of this.loading) {
      // a load in flight is sent again to the next executor (its waiters keep waiting), unless it keeps killing them
      const m = this.modules.get(sha)
      if (m !== undefined && ++m.deaths < MAX_DEATHS_WHILE_LOADING) continue
      this.modules.delete(sha)
      this.loading.delete(sha)
      const message = m === undefined ? 'executor process died' : `the executor died ${m.deaths} times loading module ${sha.slice(0, 12)}: given up`
      for (const w of waiters) w.reject(new JobError(ErrorCode.internal, message))
    }
    if (this.closing) return
    this.quickDeaths = livedMs < 5000 ? this.quickDeaths + 1 : 0
    if (this.quickDeaths >= MAX_QUICK_DEATHS) return // broken host: refuse jobs (see run)
    this.counts.restarts++
    this.spawn()
  }

  async load(sha256: string, bytes: Uint8Array): Promise<ModuleInfo> {
    if (this.closing) throw new JobError(ErrorCode.closed, 'executor is closed')
    const known = this.modules.get(sha256)
    if (known?.info) return known.info
    if (!known) {
      this.modules.set(sha256, { bytes, deaths: 0 })
      this.outbox.push({ t: 'load', sha256, bytes })
    }
    return new Promise<ModuleInfo>((resolve, reject) => {
      const list = this.loading.get(sha256) ?? []
      list.push({ resolve, reject })
      this.loading.set(sha256, list)
    })
  }

  run(request: RunRequest): Promise<RunOutcome> {
    if (this.closing) return Promise.reject(new JobError(ErrorCode.closed, 'executor is closed'))
    if (this.quickDeaths >= MAX_QUICK_DEATHS) return Promise.reject(new JobError(ErrorCode.internal, 'executor keeps dying; not restarting'))
    const n = this.next++
    return new Promise<RunOutcome>((resolve) => {
      const graceMs = this.options.watchdogGraceMs
      // the pool enforces the deadline itself; this only fires if the executor cannot answer at all.
      // Queue time counts too, so allow for every job ahead of this one.
      const waitMs = request.limits.timeoutMs * (1 + Math.floor(this.pending.size / this.slots)) + graceMs
      const deadline = performance.now() + waitMs
      if (deadline < this.watchAt) this.watch(deadline)
      // a lone job (nothing else in flight) goes at once; others wait for the end of the turn, in one batch
      const lone = this.pending.size === 0
      this.pending.set(n, { request, resolve, deadline })
      this.outbox.run(n, request, lone)
    })
  }

  /** (Re)arms the watchdog to fire at `at`. Unref'd: it never keeps the agent alive on its own (the executor's channel does while it runs). */
  private watch(at: number): void {
    clearTimeout(this.watchdog)
    this.watchAt = at
    this.watchdog = setTimeout(() => this.sweep(), Math.max(0, at - performance.now()))
    this.watchdog.unref()
  }

  /** The watchdog fired: every job past its deadline means a wedged executor; then it waits for the earliest left. */
  private sweep(): void {
    this.watchdog = undefined
    this.watchAt = Infinity
    const now = performance.now()
    let next = Infinity
    for (const [n, p] of [...this.pending]) {
      if (p.deadline <= now) this.wedged(n)
      else if (p.deadline < next) next = p.deadline
    }
    if (next !== Infinity && this.pending.size > 0) this.watch(next)
  }

  private wedged(n: number): void {
    const p = this.pending.get(n)
    if (!p) return
    this.finish(n, { status: 'error', code: ErrorCode.deadline, message: `no answer within ${p.request.limits.timeoutMs} ms`, stderr: '', fuel: 0, durationMs: p.request.limits.timeoutMs })
    this.child.kill('SIGKILL') // onExit answers the rest and starts a new executor
  }

  stats(): ExecutorStats {
    const inFlight = this.pending.size
    return {
      workers: this.slots,
      running: Math.min(inFlight, this.slots),
      queued: Math.max(0, inFlight - this.slots),
      completed: this.counts.completed,
      failed: this.counts.failed,
      restarts: this.counts.restarts,
    }
  }

  async close(): Promise<void> {
    if (this.closing) return
    this.closing = true
    const child = this.child
    if (child.exitCode !== null || child.signalCode !== null) {
      this.view?.close()
      return
    }
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
    this.outbox.push({ t: 'close' })
    this.outbox.flush()
    const timer = setTimeout(() => child.kill('SIGKILL'), 2000)
    await exited
    clearTimeout(timer)
    this.view?.close()
    const closed: RunOutcome = { status: 'error', code: ErrorCode.closed, message: 'executor closed', stderr: '', fuel: 0, durationMs: 0 }
    for (const n of [...this.pending.keys()]) this.finish(n, closed)
    clearTimeout(this.watchdog)
  }
}

export function createProcessExecutor(options: ProcessExecutorOptions): ProcessExecutor {
  return new ProcessExecutor(options)
}
