import { ModelPool } from './agent/engine/model/model-pool.ts'
import { loadModelBytes } from './models/index.ts'
import { normalWindows, anomalousWindows, mcuWindow } from './models/anomaly/synthetic.ts'
import { createHash } from 'node:crypto'
const bytes = await loadModelBytes('anomaly')
const sha = createHash('sha256').update(bytes).digest('hex')
const wins = [...normalWindows(7, 100), ...anomalousWindows(8, 100).map(a => a.values), mcuWindow(0), mcuWindow(30)]
const tensor = Buffer.from(JSON.stringify({ shape: [wins.length, 16], data: wins.flat() }))
const out: Record<string,string> = {}
for (const backend of ['wasm', 'wasm-scalar', 'cpu'] as const) {
  const pool = new ModelPool({ backend })
  const t0 = performance.now()
  await pool.load(sha, bytes)
  const t1 = performance.now()
  const r = await pool.run({ jobId: 'x', module: sha, input: tensor, limits: { timeoutMs: 10000, outputBytes: 1e6, stderrBytes: 0 } })
  const t2 = performance.now()
  if (r.status !== 'ok') { console.log(backend, r); continue }
  const text = Buffer.from(r.output).toString()
  out[backend] = text
  console.log(backend, 'load', (t1-t0).toFixed(0), 'run', (t2-t1).toFixed(1), 'fuel', r.fuel, createHash('sha256').update(text).digest('hex').slice(0,16), text.split('\n').slice(200,202).join(' | '))
  await pool.close()
}
const lines = Object.fromEntries(Object.entries(out).map(([k,v]) => [k, v.split('\n')]))
for (const [a,b] of [['wasm','wasm-scalar'],['wasm','cpu']]) {
  const diff = lines[a]!.filter((l, i) => l !== lines[b]![i]).length
  console.log(a, 'vs', b, 'differing rows', diff)
}
