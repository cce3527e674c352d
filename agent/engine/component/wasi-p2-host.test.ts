// Unit tests of the component side that need no jco: the preview2 host, header
// detection, the WIT world reader and the loader of jco's JS.
//   node --import tsx agent/engine/component/wasi-p2-host.test.ts
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { isComponent, wasmBinaryKind } from './header.ts'
import { ComponentLinkError, compileInstantiate, linkImports } from './instantiate.ts'
import { worldOf } from './prepare.ts'
import { WasiStop } from '../wasi/stop.ts'
import { PROVIDED_INTERFACES, WasiP2Host } from './wasi-p2-host.ts'
import type { StdoutRoute } from './wasi-p2-host.ts'

const caps = { outputBytes: 10, stderrBytes: 4 }
const bytes = (s: string) => new TextEncoder().encode(s)
const text = (b: Uint8Array) => new TextDecoder().decode(b)

type Fn = (...args: unknown[]) => unknown
type Ctor = new (...args: unknown[]) => Record<string, Fn>

function host(input = '', route: StdoutRoute = 'output', options = {}) {
  const h = new WasiP2Host(options)
  h.begin(bytes(input), caps, route)
  const iface = (name: string) => h.interfaces[name] as Record<string, Fn>
  const call = (name: string, fn: string, ...args: unknown[]) => iface(name)[fn]?.(...args)
  return { h, iface, call }
}

function thrown(fn: () => unknown): unknown {
  try {
    fn()
  } catch (err) {
    return err
  }
  throw new Error('expected a throw')
}

test('header: core module, component, neither', () => {
  assert.is(wasmBinaryKind(new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0])), 'module')
  assert.is(wasmBinaryKind(new Uint8Array([0, 0x61, 0x73, 0x6d, 0x0d, 0, 1, 0])), 'component')
  assert.is(wasmBinaryKind(new Uint8Array([0, 0x61, 0x73, 0x6d, 0x0e, 0, 1, 0, 9])), 'component', 'any pre-standard version')
  assert.is(wasmBinaryKind(new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 2, 0])), 'unknown')
  assert.is(wasmBinaryKind(bytes('\0asm')), 'unknown')
  assert.is(wasmBinaryKind(bytes('not wasm at all')), 'unknown')
  assert.ok(isComponent(new Uint8Array([0, 0x61, 0x73, 0x6d, 0x0d, 0, 1, 0])))
})

test('the interfaces provided are the ones declared', () => {
  assert.equal(Object.keys(new WasiP2Host().interfaces).sort(), [...PROVIDED_INTERFACES].sort())
  assert.not.ok(PROVIDED_INTERFACES.some((i) => /sockets|http/.test(i)))
})

test('stdin: read in pieces, then the stream error closed', () => {
  const { call } = host('hello')
  const stdin = call('wasi:cli/stdin', 'getStdin') as Record<string, Fn>
  assert.is(text(stdin['read']?.(2n) as Uint8Array), 'he')
  assert.is(text(stdin['blockingRead']?.(100n) as Uint8Array), 'llo')
  assert.equal(thrown(() => stdin['read']?.(1n)), { tag: 'closed' })
  assert.not.instance(thrown(() => stdin['blockingRead']?.(1n)), Error, 'a WASI error value, not an Error (jco lowers it)')
})

test('charge: told the bytes each transfer moved (stdin, stdout, stderr, random); not a write stopped at the cap', () => {
  const charged: number[] = []
  const { call } = host('hello', 'output', { charge: (n: number) => charged.push(n) })
  const stdin = call('wasi:cli/stdin', 'getStdin') as Record<string, Fn>
  stdin['read']?.(2n)
  stdin['blockingRead']?.(100n)
  const stdout = call('wasi:cli/stdout', 'getStdout') as Record<string, Fn>
  stdout['write']?.(bytes('abc'))
  const stderr = call('wasi:cli/stderr', 'getStderr') as Record<string, Fn>
  stderr['write']?.(bytes('123456')) // 4 kept, 6 taken
  call('wasi:random/random', 'getRandomBytes', 100n)
  call('wasi:random/insecure', 'getInsecureRandomU64')
  assert.equal(charged, [2, 3, 3, 6, 100, 8])
  assert.instance(thrown(() => stdout['write']?.(bytes('x'.repeat(20)))), WasiStop)
  assert.is(charged.length, 6)
})

test('stdout: up to the cap, one byte over stops the run with output_limit', () => {
  const { h, call } = host()
  const out = call('wasi:cli/stdout', 'getStdout') as Record<string, Fn>
  assert.is(out['checkWrite']?.(), 1n << 20n)
  out['write']?.(bytes('0123456'))
  out['blockingWriteAndFlush']?.(bytes('789'))
  const stop = thrown(() => out['write']?.(bytes('x')))
  assert.instance(stop, WasiStop)
  assert.equal([(stop as WasiStop).reason, (stop as WasiStop).value], ['output_limit', 10])
  assert.is(h.stopped, stop)
  assert.is(text(h.finish().stdout), '0123456789')
})

test('after a stop every host function throws it again (a guest that catches the unwind)', () => {
  const { h, call } = host('abc')
  const exit = thrown(() => call('wasi:cli/exit', 'exit', { tag: 'err' }))
  assert.instance(exit, WasiStop)
  assert.equal([(exit as WasiStop).reason, (exit as WasiStop).value], ['exit', 1])
  assert.is(thrown(() => call('wasi:cli/stdin', 'getStdin')), exit)
  assert.is(thrown(() => call('wasi:random/random', 'getRandomU64')), exit)
  assert.is(h.stopped, exit)
})

test('exit: ok is 0, err is 1, exit-with-code keeps its code', () => {
  const a = host()
  assert.is((thrown(() => a.call('wasi:cli/exit', 'exit', { tag: 'ok' })) as WasiStop).value, 0)
  const b = host()
  assert.is((thrown(() => b.call('wasi:cli/exit', 'exitWithCode', 3)) as WasiStop).value, 3)
})

test('stderr keeps what fits and drops the rest; job world: stdout is kept with stderr', () => {
  const { h, call } = host('', 'diagnostics')
  const err = call('wasi:cli/stderr', 'getStderr') as Record<string, Fn>
  const out = call('wasi:cli/stdout', 'getStdout') as Record<string, Fn>
  out['write']?.(bytes('ab'))
  err['write']?.(bytes('cdef'))
  assert.is(h.stopped, null)
  const { stdout, stderr } = h.finish()
  assert.is(stdout.length, 0)
  assert.is(stderr, 'abcd')
})

test('write-zeroes and splice from stdin', () => {
  const { h, call } = host('xyz')
  const out = call('wasi:cli/stdout', 'getStdout') as Record<string, Fn>
  const stdin = call('wasi:cli/stdin', 'getStdin')
  out['writeZeroes']?.(2n)
  assert.is(out['splice']?.(stdin, 10n), 3n)
  assert.equal([...h.finish().stdout], [0, 0, 120, 121, 122])
  const big = host()
  const o = big.call('wasi:cli/stdout', 'getStdout') as Record<string, Fn>
  assert.instance(thrown(() => o['writeZeroes']?.(1n << 40n)), WasiStop, 'a huge write-zeroes stops, allocates no terabyte')
})

test('environment: arguments ["job"], no variables, no cwd; no terminals; no preopened directories', () => {
  const { call } = host()
  assert.equal(call('wasi:cli/environment', 'getArguments'), ['job'])
  assert.equal(call('wasi:cli/environment', 'getEnvironment'), [])
  assert.is(call('wasi:cli/environment', 'initialCwd'), undefined)
  assert.is(call('wasi:cli/terminal-stdout', 'getTerminalStdout'), undefined)
  assert.equal(call('wasi:filesystem/preopens', 'getDirectories'), [])
})

test('clocks and random come from the sources given (deterministic mode plugs in there)', () => {
  const clock = (id: number) => (id === 0 ? 1_700_000_000_123_456_789n : 42n)
  const random = (dest: Uint8Array) => dest.fill(7)
  const { call, iface } = host('', 'output', { clock, random })
  assert.equal(call('wasi:clocks/wall-clock', 'now'), { seconds: 1_700_000_000n, nanoseconds: 123_456_789 })
  assert.is(call('wasi:clocks/monotonic-clock', 'now'), 42n)
  assert.equal([...(call('wasi:random/random', 'getRandomBytes', 3n) as Uint8Array)], [7, 7, 7])
  assert.is(call('wasi:random/random', 'getRandomU64'), 0x0707070707070707n)
  assert.equal(call('wasi:random/insecure-seed', 'insecureSeed'), [0x0707070707070707n, 0x0707070707070707n])
  const pollable = call('wasi:clocks/monotonic-clock', 'subscribeDuration', 10n ** 12n) as Record<string, Fn>
  assert.is(pollable['ready']?.(), true, 'timers are ready at once: a job cannot sleep')
  assert.equal([...(iface('wasi:io/poll')['poll']?.([pollable, pollable]) as Uint32Array)], [0, 1])
  const trap = thrown(() => call('wasi:random/random', 'getRandomBytes', 1n << 40n))
  assert.instance(trap, WebAssembly.RuntimeError, 'an absurd random request is a trap of the guest')
})

test('resources are the classes jco checks with instanceof', () => {
  const { call, iface } = host()
  assert.instance(call('wasi:cli/stdin', 'getStdin'), iface('wasi:io/streams')['InputStream'] as unknown as Ctor)
  assert.instance(call('wasi:cli/stdout', 'getStdout'), iface('wasi:io/streams')['OutputStream'] as unknown as Ctor)
})

test('a bug in the host is recorded as a fault (internal), not blamed on the guest', () => {
  const { h, call } = host()
  const out = call('wasi:cli/stdout', 'getStdout') as Record<string, Fn>
  thrown(() => out['write']?.(undefined)) // not a Uint8Array: our code throws a TypeError
  assert.instance(h.fault, TypeError)
})

test('linkImports: versions are ignored, missing interfaces and functions are named', () => {
  const imports = linkImports(new WasiP2Host().interfaces) as Record<string, Record<string, unknown>>
  assert.type(imports['wasi:cli/stdin@0.2.3']?.['getStdin'], 'function')
  const missingIface = thrown(() => imports['wasi:sockets/tcp'])
  assert.instance(missingIface, ComponentLinkError)
  assert.match((missingIface as Error).message, 'wasi:sockets/tcp')
  const missingFn = thrown(() => imports['wasi:cli/exit']?.['exitAndDance'])
  assert.match((missingFn as Error).message, 'wasi:cli/exit#exitAndDance')
})

test('worldOf: the imports and exports of the world in wasm-tools WIT', () => {
  const wit = [
    'package root:component;',
    '',
    'world root {',
    '  import wasi:cli/stdin@0.2.12;',
    '  import log: func(msg: string);',
    '  import custom: interface {',
    '    f: func();',
    '  }',
    '',
    '  export run: func(input: list<u8>) -> result<list<u8>, string>;',
    '}',
    'package wasi:cli@0.2.12 {',
    '  world other {',
    '    import not-this: func();',
    '  }',
    '}',
  ].join('\n')
  const world = worldOf(wit)
  assert.equal(world.imports, ['wasi:cli/stdin@0.2.12', 'log', 'custom'])
  assert.equal(world.exports, ['  export run: func(input: list<u8>) -> result<list<u8>, string>;'])
})

test('compileInstantiate: loads the shape jco generates, refuses another', () => {
  const js = [
    '"use components";',
    'export function instantiate(getCoreModule, imports, instantiateCore = (m, i) => new WebAssembly.Instance(m, i)) {',
    '  const fallback = () => new URL("./x.wasm", import.meta.url);',
    '  return { answer: 42, f: typeof fallback };',
    '}',
    '',
    'export const _util = {',
    '}',
  ].join('\n')
  const instantiate = compileInstantiate(js)
  assert.equal(instantiate(() => new WebAssembly.Module(new Uint8Array(0)), {}, () => ({}) as WebAssembly.Instance), {
    answer: 42,
    f: 'function',
  })
  assert.throws(() => compileInstantiate('export default function () {}'), /unexpected shape/)
  assert.throws(() => compileInstantiate(`import fs from 'node:fs'\n${js}`), /unexpected shape/)
})

test.run()
