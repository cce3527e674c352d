/**
 * Components for the tests, built on the fly with jco: WASI command components from the
 * engine's preview1 WAT fixtures (test/fixtures/engine/modules.ts) wrapped with jco's
 * preview1 -> preview2 command adapter, and job-world components from small WAT core
 * modules that implement the canonical ABI of `run` by hand.
 */
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { compileWat } from '../fixtures/engine/modules.ts'
import { loadJco } from '../../agent/engine/component/jco.ts'

export interface TestComponent {
  bytes: Uint8Array
  sha256: string
}

const JOB_WIT = fileURLToPath(new URL('../../wasm-modules/wit/job.wit', import.meta.url))

const sha = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex')

function component(bytes: Uint8Array): TestComponent {
  return { bytes, sha256: sha(bytes) }
}

let adapter: Uint8Array | undefined

/** A preview1 command core module made a WASI command component (exports wasi:cli/run). */
export async function commandComponent(core: Uint8Array): Promise<TestComponent> {
  const jco = await loadJco()
  adapter ??= new Uint8Array(readFileSync(jco.preview1AdapterCommandPath()))
  return component(await jco.componentNew(core, [['wasi_snapshot_preview1', adapter]]))
}

/** A core module (WAT) embedding `world` of `wit` (default: the job world) made a component. */
export async function witComponent(wat: string, wit = readFileSync(JOB_WIT, 'utf8'), world = 'job'): Promise<TestComponent> {
  const jco = await loadJco()
  const embedded = await jco.componentEmbed({ binary: compileWat(wat).bytes, witSource: wit, world, stringEncoding: 'utf8' })
  return component(await jco.componentNew(embedded, []))
}

/**
 * Canonical ABI plumbing for a job-world core module in WAT: memory, a bump
 * `cabi_realloc` (heap from 4096, grows memory as needed) and the return area at 16
 * ({u8 case @16, u32 ptr @20, u32 len @24}).
 */
export const JOB_ABI = `
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 4096))
  (func $alloc (export "cabi_realloc") (param i32 i32 i32 i32) (result i32) (local $p i32) (local $end i32)
    (local.set $p (i32.and (i32.add (global.get $heap) (i32.const 7)) (i32.const -8)))
    (local.set $end (i32.add (local.get $p) (local.get 3)))
    (if (i32.gt_u (local.get $end) (i32.mul (memory.size) (i32.const 65536)))
      (then (if (i32.lt_s (memory.grow (i32.add (i32.shr_u (local.get $end) (i32.const 16)) (i32.const 1))) (i32.const 0))
        (then unreachable))))
    (global.set $heap (local.get $end))
    (local.get $p))
  (func $ret (param $case i32) (param $ptr i32) (param $len i32) (result i32)
    (i32.store8 (i32.const 16) (local.get $case))
    (i32.store (i32.const 20) (local.get $ptr))
    (i32.store (i32.const 24) (local.get $len))
    (i32.const 16))
`

/** Job world: ok(input). */
export const echoJob = () =>
  witComponent(`(module ${JOB_ABI}
  (func (export "run") (param $ptr i32) (param $len i32) (result i32) (call $ret (i32.const 0) (local.get $ptr) (local.get $len))))`)

/** Job world: traps in run. */
export const trapJob = () =>
  witComponent(`(module ${JOB_ABI}
  (func (export "run") (param i32 i32) (result i32) unreachable))`)

/** Job world: returns a result whose case is neither ok (0) nor err (1): a canonical ABI violation. */
export const badCaseJob = () =>
  witComponent(`(module ${JOB_ABI}
  (func (export "run") (param $ptr i32) (param $len i32) (result i32) (call $ret (i32.const 7) (local.get $ptr) (local.get $len))))`)

/** The job world's plumbing with a memory of `pages` pages instead of 1. */
const jobAbi = (pages: number) => JOB_ABI.replace('(memory (export "memory") 1)', `(memory (export "memory") ${pages})`)

/** Job world: ok(input), with an initial memory of `pages` 64 KiB pages. */
export const echoJobWithMemory = (pages: number) =>
  witComponent(`(module ${jobAbi(pages)}
  (func (export "run") (param $ptr i32) (param $len i32) (result i32) (call $ret (i32.const 0) (local.get $ptr) (local.get $len))))`)

/** Job world: never returns (an empty loop: 1 fuel per pass). */
export const spinJob = () =>
  witComponent(`(module ${JOB_ABI}
  (func (export "run") (param i32 i32) (result i32) (loop $forever (br $forever)) (i32.const 0)))`)

/**
 * Job world: grows its memory by 1 MiB until growth is refused; then traps, or with
 * `graceful` returns ok with the number of 64 KiB pages it reached, as 4 bytes (little-endian).
 */
export const growJob = (graceful = false) =>
  witComponent(`(module ${JOB_ABI}
  (func (export "run") (param i32 i32) (result i32)
    (loop $more (br_if $more (i32.ne (memory.grow (i32.const 16)) (i32.const -1))))
    ${graceful ? '(i32.store (i32.const 32) (memory.size)) (call $ret (i32.const 0) (i32.const 32) (i32.const 4))' : 'unreachable'}))`)
