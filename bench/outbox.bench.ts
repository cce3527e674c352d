/**
 * The agent's outbox (agent/outbox.ts): durable publishes per second, CPU per
 * publish on the main thread, and the longest the event loop was blocked, with
 * 32 publishes in flight the way an agent has them (each PUBACK deletes one and
 * the next result is put): the group commit (one write + one fdatasync per turn,
 * off the main thread; deletes ride along) against the previous outbox, which
 * appended every put and every delete with a synchronous write + fdatasync
 * (JournalFile.append) — same file system (the temp dir), alternating rounds.
 *
 *   node --import tsx bench/outbox.bench.ts [publishes per round=2000]
 */
import { join } from 'node:path'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import type { Packet } from 'mqtt-packet'
import { Outbox } from '../agent/outbox.ts'
import { JournalFile } from '../agent/settlement/journal-file.ts'
import { tmpDir } from '../test/support/temp-dirs.ts'
import { header, progress, table, target } from './report.ts'
import { int, ratio } from './summary.ts'

const N = Number(process.argv[2] ?? 2000)
const IN_FLIGHT = 32
const ROUNDS = 3
const payload = Buffer.alloc(300, 7) // a signed result envelope is a few hundred bytes

interface Store {
  put(p: Packet, cb: (err?: Error) => void): unknown
  del(p: Pick<Packet, 'messageId'>, cb: (err?: Error) => void): unknown
  close(cb: () => void): void
}

/** The previous outbox's storage path: one synchronous append (write + fdatasync) per put and per delete. */
function syncPerRecord(path: string): Store {
  const { file } = JournalFile.open(path)
  return {
    put(p, cb) {
      const q = p as Packet & { messageId: number; topic: string; payload: Buffer; qos: number; retain: boolean }
      file.append({ k: 'p', m: q.messageId, t: q.topic, p: q.payload.toString('base64'), q: q.qos, r: q.retain })
      cb()
    },
    del(p, cb) {
      file.append({ k: 'd', m: p.messageId })
      cb()
    },
    close(cb) {
      file.close()
      cb()
    },
  }
}

/** 32 lanes: put, then (as if the PUBACK came back at once) delete and put the next, N in all. */
async function run(store: Store): Promise<{ perSec: number; cpuUs: number; maxBlockMs: number }> {
  const h = monitorEventLoopDelay({ resolution: 1 })
  h.enable()
  const cpu0 = process.cpuUsage()
  const t0 = performance.now()
  let next = 0
  const lane = async () => {
    while (next < N) {
      const m = (next++ % 60000) + 1
      await new Promise<void>((resolve, reject) =>
        store.put({ cmd: 'publish', messageId: m, topic: `fm/v1/results/r/${m}`, payload, qos: 1, retain: false, dup: false } as Packet, (err) => (err ? reject(err) : resolve())),
      )
      await new Promise<void>((r) => setImmediate(r)) // the PUBACK arrives in a later turn
      store.del({ messageId: m }, () => {})
    }
  }
  await Promise.all(Array.from({ length: IN_FLIGHT }, lane))
  const secs = (performance.now() - t0) / 1000
  const cpu = process.cpuUsage(cpu0)
  h.disable()
  await new Promise<void>((r) => store.close(() => r()))
  return { perSec: N / secs, cpuUs: (cpu.user + cpu.system) / N, maxBlockMs: h.max / 1e6 }
}

header('agent outbox: durable QoS 1 publishes', [`${N} publishes per round with ${IN_FLIGHT} in flight (put, PUBACK, delete), ${payload.length}-byte payloads, ${ROUNDS} rounds each, alternating`])

const impls: Record<string, (path: string) => Store> = {
  'sync per record (old)': syncPerRecord,
  'group commit, write + fdatasync': (path) => new Outbox(path, { dsync: false }) as unknown as Store,
  'group commit, O_DSYNC write (new default)': (path) => new Outbox(path) as unknown as Store,
}
const results: Record<string, Array<{ perSec: number; cpuUs: number; maxBlockMs: number }>> = {}
for (let round = 0; round < ROUNDS; round++) {
  for (const [name, open] of Object.entries(impls)) {
    const r = await run(open(join(tmpDir('fm-outbox-bench-'), 'outbox.journal')))
    ;(results[name] ??= []).push(r)
    progress(`round ${round + 1} ${name}: ${int(r.perSec)} publishes/s, ${int(r.cpuUs)} us cpu each`)
  }
}
const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number
const m = (name: string, k: 'perSec' | 'cpuUs' | 'maxBlockMs') => med(results[name]!.map((r) => r[k]))
console.log(
  table([
    ['outbox', 'publishes/s (median)', 'cpu us / publish (whole process, median)', 'event loop blocked max ms (median)'],
    ...Object.keys(impls).map((n) => [n, int(m(n, 'perSec')), int(m(n, 'cpuUs')), m(n, 'maxBlockMs').toFixed(1)]),
  ]),
)
console.log('')
const [OLD, , NEW] = Object.keys(impls) as [string, string, string]
console.log(`info   cpu per publish new/old: ${ratio(m(NEW, 'cpuUs'), m(OLD, 'cpuUs'))} (whole process, libuv pool included; the new one's write and fdatasync run on the pool, off the event loop)`)
target('durable publishes/s, group commit vs sync per record (>= 2x)', `${int(m(NEW, 'perSec'))}/s vs ${int(m(OLD, 'perSec'))}/s = ${ratio(m(NEW, 'perSec'), m(OLD, 'perSec'))}`, m(NEW, 'perSec') >= 2 * m(OLD, 'perSec'))
