/**
 * Summarizes V8 .cpuprofile files (from `node --cpu-prof`): where one thread's
 * CPU went, by area (broker, MQTT client, validation, crypto, JSON, wasm, GC,
 * idle, ...), by self time per function, and inclusive time for the mesh's
 * own hot functions.
 *
 *   node --import tsx bench/cpuprofile-summary.ts FILE.cpuprofile [...] [--top 25] [--per JOBS] [--last S]
 *
 * With `--per JOBS` the figures are also given in microseconds per job;
 * `--last S` keeps only the last S seconds of each profile (skips start-up).
 */
import { readFileSync } from 'node:fs'
import { basename } from 'node:path'

interface CallFrame {
  functionName: string
  url: string
  lineNumber: number
}
interface ProfileNode {
  id: number
  callFrame: CallFrame
  children?: number[]
}
interface Profile {
  nodes: ProfileNode[]
  samples: number[]
  timeDeltas: number[]
  startTime: number
  endTime: number
}

const args = process.argv.slice(2)
const files = args.filter((a, i) => !a.startsWith('--') && !(args[i - 1] ?? '').startsWith('--'))
const opt = (name: string) => {
  const i = args.indexOf(`--${name}`)
  return i >= 0 ? args[i + 1] : undefined
}
const TOP = Number(opt('top') ?? 25)
const PER = opt('per') === undefined ? undefined : Number(opt('per'))
/** Only the samples of the last S seconds of each profile (skips start-up). */
const LAST = opt('last') === undefined ? undefined : Number(opt('last')) * 1e6

/** The area a frame belongs to, from its url and name. */
function area(f: CallFrame): string {
  const u = f.url
  const n = f.functionName
  if (n === '(idle)') return 'idle'
  if (n === '(garbage collector)') return 'gc'
  if (n === '(program)') return 'program (native, unattributed)'
  if (u.includes('/node_modules/aedes')) return 'aedes (broker)'
  if (u.includes('/node_modules/mqtt-packet')) return 'mqtt-packet (encode/parse)'
  if (u.includes('/node_modules/mqtt/')) return 'mqtt.js client'
  if (u.includes('/node_modules/tweetnacl')) return 'tweetnacl'
  if (u.includes('/node_modules/')) return `pkg ${/node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(u)?.[1] ?? '?'}`
  if (u.includes('/broker/')) return 'fogmesh broker/'
  if (u.includes('/protocol/validate')) return 'fogmesh protocol/validate'
  if (u.includes('/protocol/signature')) return 'fogmesh protocol/signature'
  if (u.includes('/protocol/')) return 'fogmesh protocol/ (other)'
  if (u.includes('/agent/engine/')) return 'fogmesh agent/engine'
  if (u.includes('/agent/')) return 'fogmesh agent/'
  if (u.includes('/market/')) return 'fogmesh market/'
  if (u.includes('/bench/')) return 'bench harness'
  if (u.startsWith('wasm://')) return 'wasm'
  if (u.startsWith('node:internal/crypto') || /^(sign|verify|digest|update|createHash|Hash)$/.test(n)) return 'node:crypto'
  if (u.startsWith('node:internal/streams') || u.startsWith('node:stream')) return 'node streams'
  if (u.startsWith('node:internal/worker') || u.includes('worker_threads') || n === 'postMessage') return 'node worker messaging'
  if (u.startsWith('node:net') || u.startsWith('node:internal/stream_base') || n === 'writev' || n === 'writeBuffer' || n === 'writeUtf8String') return 'node net/socket'
  if (u.startsWith('node:')) return 'node (other)'
  if (n === 'parse' || n === 'stringify') return 'JSON'
  if (u === '') return `native: ${n || '(anonymous)'}`
  return 'other js'
}

const HOT = [
  'decodeJson', 'verifyAgainst', 'verifyResult', 'verifySignature', 'signResult', 'resultStatement', 'onInbox', 'onAssign', 'runJob', 'execute',
  'onSubmit', 'submit', 'run', 'attempt', 'pickAgent', 'presence', 'ineligibility', 'onOffer', 'answer', 'resultToWire',
  'verifyBatched', 'rootFromProof', 'signBatch', 'treeWithProofs', 'assignmentSignedByItsRequester',
]

for (const file of files) {
  const p = JSON.parse(readFileSync(file, 'utf8')) as Profile
  const byId = new Map(p.nodes.map((n) => [n.id, n]))
  const parent = new Map<number, number>()
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id)
  const selfByFn = new Map<string, number>()
  const byArea = new Map<string, number>()
  const incl = new Map<string, number>()
  let total = 0
  let idle = 0
  let at = p.startTime
  const from = LAST === undefined ? -Infinity : p.endTime - LAST
  for (let i = 0; i < p.samples.length; i++) {
    const dt = p.timeDeltas[i] ?? 0
    at += dt
    if (at < from) continue
    const node = byId.get(p.samples[i] as number)
    if (!node) continue
    total += dt
    const f = node.callFrame
    if (f.functionName === '(idle)') idle += dt
    const key = `${f.functionName || '(anonymous)'} ${f.url ? `${basename(f.url)}:${f.lineNumber + 1}` : ''}`
    selfByFn.set(key, (selfByFn.get(key) ?? 0) + dt)
    const a = area(f)
    byArea.set(a, (byArea.get(a) ?? 0) + dt)
    const seen = new Set<string>()
    for (let id: number | undefined = node.id; id !== undefined; id = parent.get(id)) {
      const cf = byId.get(id)!.callFrame
      if (!HOT.includes(cf.functionName) || !cf.url.includes('/work/')) continue
      const k = `${cf.functionName} ${basename(cf.url)}`
      if (seen.has(k)) continue
      seen.add(k)
      incl.set(k, (incl.get(k) ?? 0) + dt)
    }
  }
  const busy = total - idle
  const fmt = (us: number) => {
    const pct = `${((100 * us) / busy).toFixed(1).padStart(5)}% of busy`
    return PER ? `${pct}  ${(us / PER).toFixed(1).padStart(7)} us/job` : pct
  }
  console.log(`\n# ${basename(file)}: ${(total / 1e6).toFixed(2)} s sampled, busy ${(busy / 1e6).toFixed(2)} s (${((100 * busy) / total).toFixed(0)}%)`)
  console.log('## by area (self time)')
  for (const [a, t] of [...byArea].filter(([a]) => a !== 'idle').sort((x, y) => y[1] - x[1])) console.log(`  ${a.padEnd(34)} ${fmt(t)}`)
  console.log(`## top ${TOP} functions (self time)`)
  for (const [k, t] of [...selfByFn].filter(([k]) => !k.startsWith('(idle)')).sort((x, y) => y[1] - x[1]).slice(0, TOP)) console.log(`  ${k.slice(0, 70).padEnd(70)} ${fmt(t)}`)
  console.log('## fogmesh hot functions (inclusive)')
  for (const [k, t] of [...incl].sort((x, y) => y[1] - x[1])) console.log(`  ${k.padEnd(40)} ${fmt(t)}`)
}
