/**
 * Entry of the executor process (side effects: it talks over its IPC channel and exits
 * with the agent): where job code runs. Started by the agent with an
 * empty environment, no data dir, a scratch working directory and (when the
 * agent runs as root) an unprivileged uid, so that code escaping a job still
 * finds no keys, no wallet and no module cache to tamper with. It hosts the
 * worker pool and answers over IPC; it exits when the agent goes away.
 *
 * argv: <slots> <queueLimit> [<warm workers> [<inline fuel>]]
 *
 * Tiny metered jobs are first tried on this thread with a fuel slice (<inline fuel>, 0: off;
 * ../worker/inline-slice.ts): nothing here is worth more to a job than a worker thread is
 * (no keys, the same process), and a try that does not decide the job runs again on a worker.
 */
import { toFogmeshError } from '../../../protocol/errors.ts'
import { Outbox, type Batch, type FromExecutor, type ToExecutor, type Wire } from './ipc.ts'
import { readFrames } from './run-frames.ts'
import type { RunOutcome, RunRequest } from '../executor.ts'
import { createWorkerPool } from '../worker/pool.ts'
import { withModels } from '../model/with-models.ts'

const send = process.send?.bind(process)
if (!send) {
  process.stderr.write('executor.main: must be started by the agent with an IPC channel\n')
  process.exit(2)
}

// Started on a view of its code (code-view.ts), this process resolves modules without
// following symlinks. Worker threads inherit that only through NODE_OPTIONS when they are
// given their own execArgv, as libraries do (jco's WASI shim starts one with []): set it
// here, in this process's environment, after start (the one the agent gave stays empty).
const resolution = process.execArgv.filter((a) => a === '--preserve-symlinks' || a === '--preserve-symlinks-main')
if (resolution.length > 0) process.env.NODE_OPTIONS = resolution.join(' ')

const slots = Number(process.argv[2] ?? 1)
const queueLimit = Number(process.argv[3] ?? 1024)
const warm = process.argv[4] === undefined ? slots : Number(process.argv[4])
// a main-thread stack set larger than a worker's could let a deep recursion succeed here that
// overflows on a worker: then every job goes to a worker
const inlineFuel = process.execArgv.some((a) => a.startsWith('--stack-size')) ? 0 : Number(process.argv[5] ?? 0)
// model files go to the inference thread (tfjs is imported there, on the first model)
const pool = withModels(createWorkerPool({ size: slots, queueLimit, warm, inlineFuel }), { queueLimit })
const outbox = new Outbox<FromExecutor>((message) => send(message))
/** Runs taken and not answered yet: the answer that brings it to 0 goes at once (with any collected), not at the end of the turn. */
let outstanding = 0
const answer = (n: number, outcome: RunOutcome) => outbox.done(n, outcome, --outstanding === 0)

function run(n: number, request: RunRequest): void {
  outstanding++
  pool.run(request).then(
    (outcome) => answer(n, outcome),
    (err: unknown) => {
      const e = toFogmeshError(err)
      answer(n, { status: 'error', code: e.code, message: e.shortMessage, stderr: '', fuel: 0, durationMs: 0 })
    },
  )
}
const frames = { run, done: () => {} }

function onMessage(m: ToExecutor): void {
  switch (m.t) {
    case 'load':
      pool.load(m.sha256, m.bytes).then(
        (info) => outbox.push({ t: 'loaded', sha256: m.sha256, info }),
        (err: unknown) => {
          const e = toFogmeshError(err)
          outbox.push({ t: 'loadFailed', sha256: m.sha256, code: e.code, message: e.shortMessage })
        },
      )
      return
    case 'close':
      outbox.flush()
      pool.close().finally(() => process.exit(0))
      return
  }
}

process.on('message', (message: Wire<ToExecutor>) => {
  if (message instanceof Uint8Array) readFrames(message, frames)
  else for (const m of message) onMessage(m)
})
// Ctrl-C at a terminal reaches the whole process group; it is meant for the agent, which
// finishes its jobs and then closes us. Our life ends with a 'close' or with the agent.
process.on('SIGINT', () => {})
// the agent is gone (crashed or killed): nothing left to work for
process.on('disconnect', () => {
  pool.close().finally(() => process.exit(0))
})

await pool.ready?.()
send([{ t: 'ready', slots: pool.slots, pid: process.pid, uid: process.getuid?.() ?? -1 }] satisfies Batch<FromExecutor>)
