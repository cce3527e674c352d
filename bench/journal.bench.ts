/**
 * The voucher journal: the pure-JS append-only journal (agent/settlement/journal.ts) against the
 * SQLite one it replaced (bench/baselines/sqlite-journal.ts, better-sqlite3, WAL, synchronous=FULL),
 * same machine, same run, same disk (the temp dir), alternating rounds so drift hits both.
 *
 * Figures: durable appends per second (each acceptVoucher is on disk — fsync'd — before it
 * returns; that is what the agent acknowledges on), reopen time with N vouchers, file size, and
 * what loading the implementation costs (RSS and time to first open, each in a fresh process).
 *
 *   npm run bench:journal       (or: node --import tsx bench/journal.bench.ts [appends per round=400])
 */
import { spawnSync } from 'node:child_process'
import { statSync } from 'node:fs'
import { join } from 'node:path'
import { channelKey, VoucherJournal, type JournalVoucher } from '../agent/settlement/journal.ts'
import { SqliteVoucherJournal } from './baselines/sqlite-journal.ts'
import { ROOT } from '../test/support/paths.ts'
import { tmpDir as tempDir } from '../test/support/temp-dirs.ts'
import { header, progress, table, target } from './report.ts'
import { int, ratio } from './summary.ts'

const N = Number(process.argv[2] ?? 400)
const ROUNDS = 3

type AnyJournal = Pick<VoucherJournal, 'acceptVoucher' | 'latest' | 'close'>
const impls: Record<'append-only (new)' | 'sqlite (old)', (path: string) => AnyJournal> = {
  'append-only (new)': (p) => new VoucherJournal(p),
  'sqlite (old)': (p) => new SqliteVoucherJournal(p),
}

const voucher = (i: number): JournalVoucher => ({
  channelId: channelKey(BigInt(1 + (i % 4))),
  cumulative: BigInt(i) * 1000n,
  resultsRoot: `0x${(i % 251).toString(16).padStart(2, '0').repeat(32)}`,
  jobCount: i,
  signature: `0x${'cd'.repeat(65)}`,
})
const leaf = (i: number) => [{ jobId: `job-${i}`, leaf: `0x${(i % 256).toString(16).padStart(2, '0').repeat(32)}` }]

header('voucher journal: durable appends', [`${N} acceptVoucher calls per round (one result leaf each), ${ROUNDS} rounds per implementation, alternating`])

const appendRates: Record<string, number[]> = {}
const reopenMs: Record<string, number[]> = {}
const sizes: Record<string, number> = {}
for (let round = 0; round < ROUNDS; round++) {
  for (const [name, open] of Object.entries(impls)) {
    const path = join(tempDir('fm-journal-bench-'), 'j.db')
    const j = open(path)
    const t0 = performance.now()
    for (let i = 1; i <= N; i++) j.acceptVoucher(voucher(i), leaf(i))
    const secs = (performance.now() - t0) / 1000
    j.close()
    ;(appendRates[name] ??= []).push(N / secs)
    // sqlite keeps its WAL beside the file: count both
    sizes[name] = [path, `${path}-wal`].reduce((n, p) => n + (statSync(p, { throwIfNoEntry: false })?.size ?? 0), 0)
    const r0 = performance.now()
    const again = open(path)
    again.latest(channelKey(1n))
    ;(reopenMs[name] ??= []).push(performance.now() - r0)
    again.close()
    progress(`round ${round + 1} ${name}: ${int(N / secs)} appends/s`)
  }
}

/** Loading the implementation and opening a journal, in a fresh process: RSS after, and the time it took. */
function loadCost(name: string): { rssMiB: number; ms: number } {
  const mod = name.startsWith('sqlite') ? './bench/baselines/sqlite-journal.ts' : './agent/settlement/journal.ts'
  const cls = name.startsWith('sqlite') ? 'SqliteVoucherJournal' : 'VoucherJournal'
  const path = join(tempDir('fm-journal-load-'), 'j.db')
  const code = `const t0 = performance.now(); const m = await import(${JSON.stringify(mod)}); const j = new m.${cls}(${JSON.stringify(path)}); j.acceptVoucher({ channelId: '0x' + '11'.repeat(32), cumulative: 1n, resultsRoot: '0x' + '00'.repeat(32), jobCount: 1, signature: '0x' }, []); const ms = performance.now() - t0; globalThis.gc?.(); console.log(JSON.stringify({ ms, rss: process.memoryUsage().rss }))`
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { cwd: ROOT, encoding: 'utf8' })
  const out = JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as { ms: number; rss: number }
  return { rssMiB: out.rss / 1048576, ms: out.ms }
}

const best = (xs: number[]) => Math.max(...xs)
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number
const names = Object.keys(impls)
const load = Object.fromEntries(names.map((n) => [n, loadCost(n)]))
const [NEW, OLD] = names as [string, string]
console.log(
  table([
    ['journal', 'appends/s (median)', 'appends/s (best)', `reopen ${N} (ms)`, 'file bytes', 'load+open (ms)', 'RSS after (MiB)'],
    ...names.map((n) => [n, int(median(appendRates[n]!)), int(best(appendRates[n]!)), reopenMs[n]!.map((x) => x.toFixed(1)).sort()[1]!, int(sizes[n]!), load[n]!.ms.toFixed(1), load[n]!.rssMiB.toFixed(1)]),
  ]),
)
console.log('')
console.log('(both fsync every append before it returns: the new one fdatasyncs its one frame, SQLite fsyncs its WAL at COMMIT; RSS includes tsx, the same for both)')
console.log('')
const ratioNewOld = median(appendRates[NEW]!) / median(appendRates[OLD]!)
target('durable appends/s, append-only vs sqlite (>= 0.8x: no worse than the addon it replaces)', `${int(median(appendRates[NEW]!))}/s vs ${int(median(appendRates[OLD]!))}/s = ${ratio(median(appendRates[NEW]!), median(appendRates[OLD]!))}`, ratioNewOld >= 0.8)
