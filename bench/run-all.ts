/**
 * Runs the benchmarks in sequence, each as its own process
 * (`node --import tsx bench/<name>.bench.ts`), streams their output, and ends
 * with every TARGET line of the run. Exit code 0 when every bench finished;
 * a missed target is a figure to read, not a crash, so it does not change it.
 *
 *   npm run bench        (or: node --import tsx bench/run-all.ts)
 */
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const benches = ['roundtrip', 'throughput', 'signing', 'isolation', 'metering', 'native', 'startup', 'settlement', 'bridge', 'journal', 'footprint', 'streams', 'broker', 'auth', 'verification', 'control-plane', 'fuzz']
const targets: string[] = []
let crashed = 0
const t0 = performance.now()

for (const name of benches) {
  const file = join('bench', `${name}.bench.ts`)
  console.log(`\n$ node --import tsx ${file}`)
  const started = performance.now()
  const code = await new Promise<number | null>((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', file], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] })
    let pending = ''
    child.stdout.on('data', (d: Buffer) => {
      process.stdout.write(d)
      pending += d.toString()
      const lines = pending.split('\n')
      pending = lines.pop() ?? ''
      for (const l of lines) if (l.startsWith('TARGET ')) targets.push(`${name.padEnd(10)} ${l}`)
    })
    child.on('exit', (c) => resolve(c))
  })
  const secs = ((performance.now() - started) / 1000).toFixed(1)
  if (code !== 0) {
    crashed++
    console.log(`!! ${file} exited with ${code} after ${secs} s`)
  } else {
    console.log(`(${file}: ${secs} s)`)
  }
}

console.log(`\n== all targets (${((performance.now() - t0) / 1000).toFixed(0)} s) ==`)
for (const t of targets) console.log(t)
const failed = targets.filter((t) => t.endsWith('FAIL')).length
console.log(`${targets.length - failed} pass, ${failed} fail${crashed ? `, ${crashed} bench(es) did not finish` : ''}`)
process.exit(crashed ? 1 : 0)
