// What metering costs a component: per job (instantiate + run, p50/p90, metered vs
// `meter: false`) and once per component (transpile, meter every core, compile).
//   node --import tsx agent/engine/component/metering.bench.ts [runs]
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { JobError } from '../../../protocol/errors.ts'
import * as fx from '../../../test/fixtures/engine/modules.ts'
import { prepareModule } from '../instrument/meter.ts'
import { ComponentRunner } from './component-runner.ts'
import { loadJco } from './jco.ts'
import { forgetComponent, prepareComponent } from './prepare.ts'
import { commandComponent, echoJob, type TestComponent } from '../../../test/support/components.ts'

const runs = Number(process.argv[2] ?? 3000)
const caps = { outputBytes: 1 << 22, stderrBytes: 4096 }
const enc = (s: string) => new TextEncoder().encode(s)

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number
}

const fmt = (ms: number) => (ms < 1 ? `${(ms * 1000).toFixed(0)} µs` : `${ms.toFixed(2)} ms`)

const helloBytes = new Uint8Array(readFileSync(new URL('../../../wasm-modules/dist/hello-component.wasm', import.meta.url)))
const hello: TestComponent = { bytes: helloBytes, sha256: createHash('sha256').update(helloBytes).digest('hex') }
const csv = `sensor,temp,unit\n${Array.from({ length: 50 }, (_, i) => `s${i},${(i * 0.37).toFixed(2)},C`).join('\n')}\n`

const bigCsv = `sensor,temp,unit,note\n${Array.from({ length: 5000 }, (_, i) => `s${i},${(i * 0.37).toFixed(2)},C,"a ""quoted"" note"`).join('\n')}\n`

const cases: Array<[string, TestComponent, Uint8Array]> = [
  ['job world: echo (WAT, 1 core)', await echoJob(), enc('hello')],
  ['job world: hello-component, 50-row CSV', hello, enc(csv)],
  ['job world: hello-component, 5,000-row CSV (compute-bound)', hello, enc(bigCsv)],
  ['command: echo via the preview1 adapter (4 cores)', await commandComponent(fx.echo().bytes), enc('hello\n'.repeat(20))],
]

console.log(`per job: instantiate + run, ${runs} runs each, interleaved (Node ${process.version})`)
console.log('| component | unmetered p50 | metered p50 | ratio | unmetered p90 | metered p90 | fuel |')
console.log('| --- | --- | --- | --- | --- | --- | --- |')
for (const [name, c, input] of cases) {
  const plain = new ComponentRunner({ meter: false })
  const metered = new ComponentRunner()
  plain.add(await prepareComponent(c.sha256, c.bytes, { meter: false }))
  metered.add(await prepareComponent(c.sha256, c.bytes))
  const a: number[] = []
  const b: number[] = []
  let fuel = 0
  const n = input.length > 10_000 ? Math.ceil(runs / 10) : runs
  for (let i = 0; i < n + 200; i++) {
    let t = performance.now()
    const p = plain.run(c.sha256, input, caps)
    const pa = performance.now() - t
    t = performance.now()
    const m = metered.run(c.sha256, input, caps)
    const mb = performance.now() - t
    if (!p.ok) throw new JobError(p.code, `${name} (plain): ${p.message}`)
    if (!m.ok) throw new JobError(m.code, `${name} (metered): ${m.message}`)
    fuel = m.fuel
    if (i >= 200) {
      a.push(pa)
      b.push(mb)
    }
  }
  a.sort((x, y) => x - y)
  b.sort((x, y) => x - y)
  const [a50, b50] = [quantile(a, 0.5), quantile(b, 0.5)]
  console.log(`| ${name} | ${fmt(a50)} | ${fmt(b50)} | ${(b50 / a50).toFixed(2)}x | ${fmt(quantile(a, 0.9))} | ${fmt(quantile(b, 0.9))} | ${fuel} |`)
}

// once per component: the transpile (jco, cached per sha256 in the process), the meter pass over every core, compiling
await loadJco()
console.log('\nonce per component (median of 9; jco already loaded)')
console.log('| component | core bytes | transpile + compile, unmetered | transpile + meter + compile | meter pass alone | cached transpile: unmetered / metered |')
console.log('| --- | --- | --- | --- | --- | --- |')
for (const [name, c] of cases.filter(([n]) => !n.includes('5,000'))) {
  const med = async (f: () => Promise<unknown> | unknown) => {
    const t: number[] = []
    for (let i = 0; i < 9; i++) {
      const s = performance.now()
      await f()
      t.push(performance.now() - s)
    }
    return t.sort((x, y) => x - y)[4] as number
  }
  const cold = (meter: boolean) => async () => {
    forgetComponent(c.sha256)
    await prepareComponent(c.sha256, c.bytes, { meter })
  }
  const coldPlain = await med(cold(false))
  const coldMetered = await med(cold(true))
  let coreBytes: Uint8Array[] = []
  await prepareComponent(c.sha256, c.bytes, {
    meter: false,
    rewriteCore: (bytes) => {
      coreBytes.push(bytes.slice())
      return bytes
    },
  })
  const pass = await med(() => {
    for (const b of coreBytes) prepareModule(b, { componentCore: true })
  })
  const warmPlain = await med(() => prepareComponent(c.sha256, c.bytes, { meter: false }))
  const warmMetered = await med(() => prepareComponent(c.sha256, c.bytes))
  const total = coreBytes.reduce((n, b) => n + b.length, 0)
  coreBytes = []
  console.log(`| ${name} | ${total} | ${fmt(coldPlain)} | ${fmt(coldMetered)} | ${fmt(pass)} | ${fmt(warmPlain)} / ${fmt(warmMetered)} |`)
}
