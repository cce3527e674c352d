/**
 * Start cost per job, measured in one run on the same machine: what it costs
 * to get from "run this job" to the job's first instruction and back, for a
 * job that does nothing (echo of empty input).
 *
 *   cached instance   compiled + metered module kept; a fresh instance per job (what agents do)
 *   fresh compile     compile, check and meter the bytes, then instantiate, every job
 *   component, cached jco transpile kept; a fresh component instance per job
 *   component, fresh  jco transpile + compile every job
 *   spawned process   a new OS process per job (node running the same module under node:wasi)
 *   spawn /bin/true   the floor of any process-per-job design
 *
 * Target: cached start under 100 µs.
 *   node --import tsx bench/startup.bench.ts
 */
import { spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ComponentRunner } from '../agent/engine/component/component-runner.ts'
import { forgetComponent, prepareComponent } from '../agent/engine/component/prepare.ts'
import { compileJob } from '../agent/engine/runner/prepare-job.ts'
import { JobRunner } from '../agent/engine/runner/job-runner.ts'
import { loadModule } from '../wasm-modules/index.ts'

const caps = { outputBytes: 1 << 20, stderrBytes: 4096 }
const empty = new Uint8Array(0)

function measure(name: string, n: number, fn: (i: number) => void): { name: string; n: number; p50: number; mean: number } {
  for (let i = 0; i < Math.min(50, n); i++) fn(i) // warm up
  const t: number[] = []
  for (let i = 0; i < n; i++) {
    const s = performance.now()
    fn(i)
    t.push((performance.now() - s) * 1000)
  }
  t.sort((a, b) => a - b)
  return { name, n, p50: t[Math.floor(n / 2)]!, mean: t.reduce((a, b) => a + b, 0) / n }
}

const echo = await loadModule('echo')
const sha = createHash('sha256').update(echo).digest('hex')
const rows = []

// cached instance: the agent's path
const runner = new JobRunner()
runner.load(sha, compileJob(sha, echo).job)
rows.push(
  measure('cached instance (metered, capped)', 20_000, (i) => {
    const r = runner.run(sha, empty, caps, { jobId: `j${i}`, deterministic: true })
    if (!r.ok) throw new Error(r.message)
  }),
)

// fresh compile every job
rows.push(
  measure('fresh compile + meter + instance', 2_000, (i) => {
    const r2 = new JobRunner()
    r2.load(sha, compileJob(sha, echo).job)
    const r = r2.run(sha, empty, caps, { jobId: `j${i}` })
    if (!r.ok) throw new Error(r.message)
  }),
)

// components through jco
const component = readFileSync(new URL('../wasm-modules/dist/hello-component.wasm', import.meta.url))
const csha = createHash('sha256').update(component).digest('hex')
const comp = new ComponentRunner()
comp.add(await prepareComponent(csha, component))
const csv = Buffer.from('a\n1\n')
rows.push(
  measure('component, cached transpile', 5_000, () => {
    const r = comp.run(csha, csv, caps)
    if (!r.ok) throw new Error(r.message)
  }),
)
const fresh: number[] = []
for (let i = 0; i < 30; i++) {
  forgetComponent(csha)
  const s = performance.now()
  const c = new ComponentRunner()
  c.add(await prepareComponent(csha, component))
  c.run(csha, csv, caps)
  fresh.push((performance.now() - s) * 1000)
}
fresh.sort((a, b) => a - b)
rows.push({ name: 'component, fresh transpile', n: fresh.length, p50: fresh[15]!, mean: fresh.reduce((a, b) => a + b, 0) / fresh.length })

// a process per job
const script = join(tmpdir(), `fm-startup-${process.pid}.mjs`)
const wasmPath = join(tmpdir(), `fm-startup-${process.pid}.wasm`)
writeFileSync(wasmPath, echo)
writeFileSync(
  script,
  `import { WASI } from 'node:wasi'; import { readFileSync } from 'node:fs'
const wasi = new WASI({ version: 'preview1', args: [], env: {} })
const m = await WebAssembly.compile(readFileSync(${JSON.stringify(wasmPath)}))
wasi.start(await WebAssembly.instantiate(m, wasi.getImportObject()))`,
)
rows.push(
  measure('spawned process (node + node:wasi)', 20, () => {
    const r = spawnSync(process.execPath, ['--no-warnings', script], { stdio: ['ignore', 'ignore', 'ignore'] })
    if (r.status !== 0) throw new Error(`exit ${r.status}`)
  }),
)
rows.push(
  measure('spawn /bin/true (floor of process-per-job)', 200, () => {
    spawnSync('/bin/true')
  }),
)

const cached = rows[0]!.p50
console.log('start cost per job (µs)                          n      p50     mean   vs cached')
console.log('---------------------------------------------  -----  -------  -------  ---------')
for (const r of rows) {
  console.log(`${r.name.padEnd(45)}  ${String(r.n).padStart(5)}  ${r.p50.toFixed(1).padStart(7)}  ${r.mean.toFixed(1).padStart(7)}  ${(r.p50 / cached).toFixed(1).padStart(8)}x`)
}
console.log(`TARGET cached start < 100 µs: ${cached.toFixed(1)} µs  ${cached < 100 ? 'PASS' : 'FAIL'}`)
