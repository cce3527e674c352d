/**
 * The agent's footprint on a device (issue 10, item 7), against bare Node
 * (`node -e "setInterval(()=>{},1e9)"`) measured in the same run:
 *
 * - idle RSS of the whole agent tree (agent + executor process + its worker threads), with the
 *   default process isolation and with `--isolation thread`;
 * - start to online (spawn → the agent's "online" line, i.e. presence published);
 * - the bundle's size (its JavaScript, and the tarball);
 * - before/after: the same agent run from the checkout through tsx (`node bin/fogmesh.js agent`);
 * - the arm64 bundle's start under qemu-user (emulated: a figure to read, not a target).
 *
 * RSS is given two ways: Σ VmRSS (every process's resident set added up — the Node binary's pages
 * counted once per process, as the issue's 207 MB was measured), and the tree's resident memory
 * with the shared file pages counted once (Σ RssAnon + the largest RssFile), which is what the
 * kernel holds for the tree and what systemd's MemoryMax charges.
 *
 *   npm run bench:footprint    (or: node --import tsx bench/footprint.bench.ts [runs=3])
 */
import { spawn } from 'node:child_process'
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { DEVICE_NODE_FLAGS } from '../fleet/bundle/build-bundle.ts'
import { QEMU, startBundleAgent, unpackedBundle } from '../test/support/bundles.ts'
import { stopChild, trackChild } from '../test/support/child-processes.ts'
import { findProgram } from '../test/support/programs.ts'
import { tmpDir } from '../test/support/temp-dirs.ts'
import { testBroker } from '../test/support/test-broker.ts'
import { ROOT } from '../test/support/paths.ts'
import { header, progress, table, target } from './report.ts'

const RUNS = Number(process.argv[2] ?? 3)
const IDLE_MS = 3000
const MiB = 1024 * 1024

interface Mem { vmRss: number; anon: number; file: number }
function memOf(pid: number): Mem | undefined {
  try {
    const s = readFileSync(`/proc/${pid}/status`, 'utf8')
    const kb = (k: string) => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(s)?.[1] ?? 0) * 1024
    return { vmRss: kb('VmRSS'), anon: kb('RssAnon'), file: kb('RssFile') + kb('RssShmem') }
  } catch {
    return undefined
  }
}
function descendants(pid: number): number[] {
  const out: number[] = []
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue
    try {
      const st = readFileSync(`/proc/${d}/stat`, 'utf8')
      if (Number(st.slice(st.lastIndexOf(')') + 2).split(' ')[1]) === pid) out.push(Number(d), ...descendants(Number(d)))
    } catch {
      // gone
    }
  }
  return out
}
function treeMem(pid: number): { naive: number; shared: number; procs: number; parts: string } {
  const mems = [pid, ...descendants(pid)].map(memOf).filter((m): m is Mem => m !== undefined)
  return {
    naive: mems.reduce((n, m) => n + m.vmRss, 0),
    shared: mems.reduce((n, m) => n + m.anon, 0) + Math.max(...mems.map((m) => m.file)),
    procs: mems.length,
    parts: mems.map((m) => `${(m.vmRss / MiB).toFixed(0)}`).join('+'),
  }
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number
const mib = (b: number) => `${(b / MiB).toFixed(1)} MiB`
const x = (a: number, b: number) => `${(a / b).toFixed(2)}x`
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

header('agent footprint: bundle vs bare Node', [`${RUNS} starts per variant (median), RSS after ${IDLE_MS} ms idle on the last; device V8 flags: ${DEVICE_NODE_FLAGS}`])

// ---- bare Node ------------------------------------------------------------------------------
async function bareNode(cmd: string[]): Promise<{ startMs: number; mem: ReturnType<typeof treeMem> }> {
  const t0 = performance.now()
  const p = trackChild(spawn(cmd[0]!, [...cmd.slice(1), '-e', 'console.log("up"); setInterval(() => {}, 1e9)'], { stdio: ['ignore', 'pipe', 'inherit'] }))
  await new Promise<void>((r) => p.stdout!.once('data', () => r()))
  const startMs = performance.now() - t0
  await sleep(IDLE_MS)
  const mem = treeMem(p.pid!)
  await stopChild(p)
  return { startMs, mem }
}
const bare: Array<Awaited<ReturnType<typeof bareNode>>> = []
for (let i = 0; i < RUNS; i++) bare.push(await bareNode([process.execPath]))
const bareStart = median(bare.map((b) => b.startMs))
const bareRss = bare[bare.length - 1]!.mem.naive
progress(`bare node: ${mib(bareRss)}, first output in ${bareStart.toFixed(0)} ms`)

// ---- the agent, bundled and from source -------------------------------------------------------
const bundle = await unpackedBundle('x64')
const broker = await testBroker()
interface Variant { name: string; args: string[]; source?: boolean }
const variants: Variant[] = [
  { name: 'source via tsx, process isolation (before)', args: [], source: true },
  { name: 'bundle, process isolation', args: [] },
  { name: 'bundle, --isolation thread', args: ['--isolation', 'thread'] },
  { name: 'bundle, --isolation thread --warm-workers 0', args: ['--isolation', 'thread', '--warm-workers', '0'] },
]
const rows: Array<{ v: Variant; startMs: number; mem: ReturnType<typeof treeMem> }> = []
for (const v of variants) {
  const starts: number[] = []
  let mem: ReturnType<typeof treeMem> | undefined
  for (let i = 0; i < RUNS; i++) {
    const common = ['--broker', broker.url, '--name', 'fp', '--data', tmpDir()]
    const agent = v.source
      ? await startBundleAgent({ dir: ROOT }, [...common, ...v.args], { nodeFlags: [], entry: join(ROOT, 'bin/fogmesh.js') })
      : await startBundleAgent(bundle, [...common, ...v.args])
    starts.push(agent.startMs)
    if (i === RUNS - 1) {
      await sleep(IDLE_MS)
      mem = treeMem(agent.proc.pid!)
    }
    await agent.stop()
  }
  rows.push({ v, startMs: median(starts), mem: mem! })
  progress(`${v.name}: ${mib(mem!.naive)} (${mem!.parts}), online in ${median(starts).toFixed(0)} ms`)
}
await broker.close()

console.log(
  table([
    ['', 'processes', 'Σ VmRSS', 'vs bare', 'shared pages once', 'vs bare', 'start→online', 'vs bare start'],
    ['bare node (baseline)', '1', mib(bareRss), '1.00x', mib(bare[bare.length - 1]!.mem.shared), '1.00x', `${bareStart.toFixed(0)} ms`, '1.00x'],
    ...rows.map((r) => [r.v.name, String(r.mem.procs), mib(r.mem.naive), x(r.mem.naive, bareRss), mib(r.mem.shared), x(r.mem.shared, bare[bare.length - 1]!.mem.shared), `${r.startMs.toFixed(0)} ms`, x(r.startMs, bareStart)]),
  ]),
)
const js = bundle.jsBytes
const nodeBin = statSync(process.execPath).size
console.log('')
console.log(`bundle: JavaScript ${(js / 1024).toFixed(0)} KiB (lib/*.js), tarball ${(bundle.bytes / 1024).toFixed(0)} KiB; the Node binary is ${mib(nodeBin)} (${x(js, nodeBin)} of it)`)
console.log(`largest in the JavaScript: ${bundle.jsByPackage.slice(0, 6).map(([p, n]) => `${p} ${(n / 1024).toFixed(0)} KiB`).join(', ')}`)

// ---- emulated arm64 ----------------------------------------------------------------------------
let armLine = 'arm64 under qemu: skipped (qemu-aarch64-static not installed)'
if (findProgram('qemu-aarch64-static') && process.env.FM_BENCH_ARM !== '0') {
  const arm = await unpackedBundle('arm64', true)
  const armBare = await bareNode([QEMU.arm64.bin, '-L', QEMU.arm64.sysroot, join(arm.dir, 'node/bin/node')])
  const b2 = await testBroker()
  const agent = await startBundleAgent(arm, ['--broker', b2.url, '--data', tmpDir(), '--isolation', 'thread', '--slots', '1'], { qemu: QEMU.arm64, timeoutMs: 180_000 })
  await agent.stop()
  await b2.close()
  armLine = `arm64 bundle under qemu-user (Node ${arm.manifest.node.bundled}, --isolation thread): online in ${(agent.startMs / 1000).toFixed(1)} s; bare node there: first output in ${(armBare.startMs / 1000).toFixed(1)} s (${x(agent.startMs, armBare.startMs)})`
}
console.log(armLine)
console.log('')

const [before, proc, thread] = rows as [typeof rows[0], typeof rows[0], typeof rows[0]]
target('idle RSS, agent tree with the executor process, Σ VmRSS <= 100 MiB', `${mib(proc.mem.naive)} (${x(proc.mem.naive, bareRss)} bare node; before: ${mib(before.mem.naive)})`, proc.mem.naive <= 100 * MiB)
target('idle RSS, agent tree with the executor process, shared pages once <= 100 MiB', `${mib(proc.mem.shared)}`, proc.mem.shared <= 100 * MiB)
target('idle RSS, --isolation thread <= 60 MiB', `${mib(thread.mem.naive)} (${x(thread.mem.naive, bareRss)} bare node)`, thread.mem.naive <= 60 * MiB)
target('start to online on x64 <= 500 ms', `${proc.startMs.toFixed(0)} ms (${x(proc.startMs, bareStart)} bare node's ${bareStart.toFixed(0)} ms; before: ${before.startMs.toFixed(0)} ms)`, proc.startMs <= 500)
target('bundle JavaScript <= 2 MiB', `${(js / 1024).toFixed(0)} KiB`, js <= 2 * MiB)
