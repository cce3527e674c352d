/**
 * Hostile modules, one after another, a hundred times in a row, through a
 * real agent (with its executor process) and the plain-MQTT gateway: each
 * ends with its own code (the deadline one with `deadline`: stopped by the
 * agent, not left running), the agent stays up, the executor's memory returns
 * to baseline, the next good job succeeds. No clock: how long an answer takes
 * on a loaded machine is not what this checks (a memory bomb once answered
 * 77 ms past a 2.5 s bound in CI); an answer that never comes fails the wait.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import * as fx from './fixtures/engine/modules.ts'
import { collect, plainClient } from './support/mqtt-clients.ts'
import { waitFor } from './support/wait.ts'
import { startMesh, type Mesh } from './support/mesh.ts'

const TIMEOUT_MS = 1000
/** How long to wait for any answer before calling it a hang: generous, a loaded machine is slow. */
const ANSWER_WAIT_MS = 30_000

const memoryBomb = () =>
  fx.compileWat(`(module (memory (export "memory") 1)
  (func (export "_start") (loop $more (br_if $more (i32.ne (memory.grow (i32.const 16)) (i32.const -1)))) unreachable))`)
const hugeInitial = () => fx.compileWat(`(module (memory (export "memory") 65536) (func (export "_start")))`)
const dotDot = () =>
  fx.compileWat(`(module
  (import "wasi_snapshot_preview1" "path_open" (func $open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (data (i32.const 64) "../../../../etc/shadow")
  (func (export "_start")
    (call $exit (call $open (i32.const 3) (i32.const 0) (i32.const 64) (i32.const 22) (i32.const 0) (i64.const 2) (i64.const 0) (i32.const 0) (i32.const 96)))))`)
/** A valid module of ~300 KB (a big data segment): over the agent's 256 KiB module cap below. */
const oversized = () =>
  fx.compileWat(`(module (memory (export "memory") 8) (data (i32.const 0) "${'\\00'.repeat(300_000)}") (func (export "_start")))`)

interface Case {
  name: string
  bytes: Uint8Array
  limits?: Record<string, number>
  code: string
  check?: (r: Record<string, any>) => void
}

let mesh: Mesh
let sensor: Awaited<ReturnType<typeof plainClient>>
let replies: ReturnType<typeof collect>
let seq = 0

test.before(async () => {
  mesh = await startMesh({ agents: 1, gateway: true, agent: { slots: 2, maxModuleBytes: 256 * 1024, moduleFetchTimeoutMs: 300 } })
  sensor = await plainClient(mesh.broker.url)
  replies = collect(sensor)
  await sensor.subscribeAsync('hostile/replies', { qos: 1 })
})

test.after(async () => {
  await sensor.endAsync()
  await mesh.close()
})

async function run(module: string, limits: Record<string, number> = {}): Promise<{ r: Record<string, any> }> {
  const before = replies.length
  const id = `h-${seq++}`
  await sensor.publishAsync('fm/v1/jobs/submit', JSON.stringify({ id, module, input: '', replyTo: 'hostile/replies', limits: { timeoutMs: TIMEOUT_MS, ...limits } }))
  await waitFor(() => replies.length > before, ANSWER_WAIT_MS, `an answer to ${id}`)
  return { r: JSON.parse(replies[before]!.payload.toString()) }
}

/** The executor process of our in-process agent: a child of this process running executor.main. */
function executorRssKiB(): number {
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])
      if (ppid !== process.pid || !readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('executor.main')) continue
      return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1])
    } catch {
      // the process went away while we looked
    }
  }
  throw new Error('no executor process found')
}

test('a hundred hostile jobs in a row: each its own code; the agent stays up and the next good job runs', async () => {
  const cases: Case[] = [
    { name: 'infinite loop, fuel-limited', bytes: fx.spin().bytes, limits: { fuel: 1_000_000 }, code: 'fuel_exhausted' },
    { name: 'infinite loop, deadline', bytes: fx.spin().bytes, limits: { timeoutMs: 300 }, code: 'deadline' },
    { name: 'memory bomb', bytes: memoryBomb().bytes, limits: { memoryMiB: 16 }, code: 'memory_limit' },
    { name: '4 GiB initial memory', bytes: hugeInitial().bytes, code: 'memory_limit' },
    { name: 'unbounded recursion', bytes: fx.stackOverflow().bytes, code: 'trap' },
    { name: 'stdout flood', bytes: fx.flood().bytes, limits: { outputBytes: 65536 }, code: 'output_limit' },
    {
      name: '/etc/passwd through a guessed preopen and through stdin',
      bytes: fx.openPasswd().bytes,
      code: 'ok',
      check: (r) => {
        const out = Buffer.from(r.output, 'base64').toString()
        assert.not.match(out, /root:/)
        // EBADF (8) for the guessed preopen, ENOTCAPABLE (76) through stdin, EBADF for the prestat: nothing to open
        assert.equal(out.trim().split(' ').map(Number), [8, 76, 8])
      },
    },
    { name: '../ escape', bytes: dotDot().bytes, code: 'exit_nonzero', check: (r) => assert.match(r.error.message, /exit code 8/) },
    { name: 'host function import', bytes: fx.hostImport().bytes, code: 'link_error' },
    { name: 'module above the size cap', bytes: oversized().bytes, code: 'too_large' },
    { name: 'garbage bytes', bytes: Buffer.from('\0asm garbage that is not a module at all'), code: 'invalid_module' },
    { name: 'non-zero exit', bytes: fx.failWithStderr().bytes, code: 'exit_nonzero' },
  ]
  const shas = await Promise.all(cases.map((c) => mesh.publish(c.bytes)))
  const good = await mesh.publish(fx.echo().bytes)
  // warm-up round, then the baseline
  for (let i = 0; i < cases.length; i++) await run(shas[i]!, cases[i]!.limits)
  const baseline = executorRssKiB()
  let n = 0
  for (let round = 0; n < 100; round++) {
    for (let i = 0; i < cases.length && n < 100; i++, n++) {
      const c = cases[i]!
      const { r } = await run(shas[i]!, c.limits)
      const got = r.status === 'ok' ? 'ok' : r.error?.code
      assert.is(got, c.code, `${c.name} (round ${round}): ${JSON.stringify(r.error)}`)
      c.check?.(r)
    }
    const ok = await run(good)
    assert.is(ok.r.status, 'ok', 'the next good job succeeds')
  }
  assert.is(mesh.requester.directory.list('online').length, 1, 'the agent is still up')
  const after = executorRssKiB()
  assert.ok(after <= baseline + 64 * 1024, `executor RSS ${after} KiB after, ${baseline} KiB baseline`)
  const good2 = await run(good)
  assert.is(good2.r.status, 'ok')
})

test.run()
