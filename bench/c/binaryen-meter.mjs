// The binaryen side of the "own pass vs binaryen" comparison in
// bench/metering.bench.ts: a prototype of fuel metering written against
// binaryen.js (npm `binaryen`, here as a dependency of assemblyscript). Plain
// JavaScript run by plain node, so that loading binaryen is timed as an agent
// build would pay it (under tsx the 13.5 MB file is transformed first: ~6 s).
//
// Same ABI as agent/engine/instrument/meter.ts (memory imported as
// fogmesh.memory, fuel in an exported i64 global `fogmesh_fuel`, traps after
// calling fogmesh.out_of_fuel) and the same kind of placement, on binaryen's
// expression tree: a charge at the start of every function body, loop body
// and if arm, costing the expressions up to the next nested loop or if. The
// counter is the global itself (keeping it in a local, as meter.ts does, would
// mean wrapping every call expression to save and reload it). No charging of
// bulk memory or memory.grow: a prototype for timing and size, not for use.
//
//   node bench/c/binaryen-meter.mjs OUT_DIR IN.wasm...
// prints JSON: { loadMs, modules: [{ input, output, ms, inBytes, outBytes }] }
import { readFileSync, writeFileSync } from 'node:fs'
import { basename, join } from 'node:path'

const t0 = performance.now()
const { default: binaryen } = await import('binaryen')
const loadMs = performance.now() - t0

const FIELDS = ['children', 'operands', 'catchBodies', 'condition', 'ifTrue', 'ifFalse', 'body', 'value', 'target', 'delta', 'ptr', 'left', 'right',
  'expected', 'replacement', 'timeout', 'notifyCount', 'vec', 'shift', 'a', 'b', 'c', 'dest', 'source', 'size', 'tuple', 'i31']

function instrument(bytes) {
  const mod = binaryen.readBinaryWithFeatures(bytes, binaryen.Features.All)
  mod.addGlobal('fm_fuel', binaryen.i64, true, mod.i64.const(0n))
  mod.addGlobalExport('fm_fuel', 'fogmesh_fuel')
  mod.addFunctionImport('fm_out_of_fuel', 'fogmesh', 'out_of_fuel', binaryen.none, binaryen.none)
  mod.addMemoryImport('0', 'fogmesh', 'memory')

  const charge = (cost) =>
    mod.block(null, [
      mod.global.set('fm_fuel', mod.i64.sub(mod.global.get('fm_fuel', binaryen.i64), mod.i64.const(BigInt(cost)))),
      mod.if(
        mod.i64.lt_s(mod.global.get('fm_fuel', binaryen.i64), mod.i64.const(0n)),
        mod.block(null, [mod.call('fm_out_of_fuel', [], binaryen.none), mod.unreachable()]),
      ),
    ])
  const prepend = (body, cost) => (cost === 0 ? body : mod.block(null, [charge(cost), body], binaryen.getExpressionType(body)))

  // cost of `expr` in the current segment; loop bodies and if arms get their own charge
  function walk(expr) {
    if (!expr) return 0
    const id = binaryen.getExpressionId(expr)
    if (id === binaryen.UnreachableId || id === binaryen.NopId) return 1 // (getExpressionInfo throws on these)
    const info = binaryen.getExpressionInfo(expr)
    switch (info.id) {
      case binaryen.ConstId:
        return 1
      case binaryen.LoopId:
        binaryen.Loop.setBody(expr, prepend(info.body, walk(info.body)))
        return 0
      case binaryen.IfId: {
        const cost = walk(info.condition) + 1
        binaryen.If.setIfTrue(expr, prepend(info.ifTrue, walk(info.ifTrue)))
        if (info.ifFalse) binaryen.If.setIfFalse(expr, prepend(info.ifFalse, walk(info.ifFalse)))
        return cost
      }
    }
    let cost = info.id === binaryen.BlockId ? 0 : 1
    for (const field of FIELDS) {
      const v = info[field]
      if (Array.isArray(v)) for (const c of v) cost += walk(c)
      else if (typeof v === 'number' && v !== 0) cost += walk(v)
    }
    if (info.id === binaryen.TableGetId || info.id === binaryen.TableSetId) cost += walk(info.index)
    if (info.id === binaryen.MemoryInitId) cost += walk(info.offset)
    return cost
  }

  for (let i = 0; i < mod.getNumFunctions(); i++) {
    const f = mod.getFunctionByIndex(i)
    const fi = binaryen.getFunctionInfo(f)
    if (fi.module !== '' || !fi.body) continue // an import
    binaryen.Function.setBody(f, prepend(fi.body, walk(fi.body)))
  }
  const out = mod.emitBinary()
  mod.dispose()
  return out
}

const [outDir, ...inputs] = process.argv.slice(2)
const modules = []
for (const input of inputs) {
  const bytes = readFileSync(input)
  const t = performance.now()
  const out = instrument(bytes)
  const ms = performance.now() - t
  const output = join(outDir, `${basename(input, '.wasm')}.binaryen.wasm`)
  writeFileSync(output, out)
  modules.push({ input, output, ms, inBytes: bytes.length, outBytes: out.length })
}
process.stdout.write(JSON.stringify({ loadMs, modules }))
