import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { WASI_PREVIEW1_FUNCTIONS } from './abi.ts'
import { WasiHost } from './host.ts'
import { WasiStop } from './stop.ts'

// The host functions, called directly from JavaScript the way wasm would call them.
type Fn = (...args: (number | bigint)[]) => number

function setup(input = '', caps = { outputBytes: 1024, stderrBytes: 16 }) {
  let memory: WebAssembly.Memory | undefined = new WebAssembly.Memory({ initial: 1 })
  const host = new WasiHost({ memory: () => memory })
  const fns = host.begin(new TextEncoder().encode(input), caps) as unknown as Record<string, Fn>
  const call = (name: string, ...args: (number | bigint)[]) => {
    const fn = fns[name]
    if (!fn) throw new Error(`no host function ${name}`)
    return fn(...args)
  }
  const view = () => new DataView((memory as WebAssembly.Memory).buffer)
  const bytes = () => new Uint8Array((memory as WebAssembly.Memory).buffer)
  /** Writes iovecs [ptr, len] at `at`. */
  const iovecs = (at: number, list: [number, number][]) =>
    list.forEach(([ptr, len], i) => {
      view().setUint32(at + 8 * i, ptr, true)
      view().setUint32(at + 8 * i + 4, len, true)
    })
  const text = (s: string, at: number) => bytes().set(new TextEncoder().encode(s), at)
  return {
    host,
    call,
    view,
    bytes,
    iovecs,
    text,
    grow: (pages: number) => (memory as WebAssembly.Memory).grow(pages),
    unbind: () => (memory = undefined),
  }
}

const stopOf = (fn: () => unknown): WasiStop => {
  try {
    fn()
  } catch (err) {
    if (err instanceof WasiStop) return err
    throw err
  }
  throw new Error('expected the host to unwind')
}

test('provides exactly the 46 preview1 functions', () => {
  const { host } = setup()
  assert.equal(Object.keys(host.imports).sort(), [...WASI_PREVIEW1_FUNCTIONS].sort())
  assert.is(WASI_PREVIEW1_FUNCTIONS.length, 46)
})

test('fd_read: scatter into iovecs, partial reads, then EOF', () => {
  const w = setup('0123456789')
  w.iovecs(0, [
    [100, 3],
    [200, 4],
  ])
  assert.is(w.call('fd_read', 0, 0, 2, 16), 0)
  assert.is(w.view().getUint32(16, true), 7)
  assert.is(new TextDecoder().decode(w.bytes().subarray(100, 103)), '012')
  assert.is(new TextDecoder().decode(w.bytes().subarray(200, 204)), '3456')
  assert.is(w.call('fd_read', 0, 0, 2, 16), 0)
  assert.is(w.view().getUint32(16, true), 3, 'the rest of the input')
  assert.is(new TextDecoder().decode(w.bytes().subarray(100, 103)), '789')
  assert.is(w.call('fd_read', 0, 0, 2, 16), 0)
  assert.is(w.view().getUint32(16, true), 0, 'EOF')
  assert.is(w.call('fd_read', 1, 0, 2, 16), 8, 'stdout is not readable: EBADF')
  assert.is(w.call('fd_read', 7, 0, 2, 16), 8)
})

test('fd_write: gathers iovecs to stdout; stdout over the cap unwinds with output_limit', () => {
  const w = setup('', { outputBytes: 10, stderrBytes: 16 })
  w.text('hello ', 100)
  w.text('world', 200)
  w.iovecs(0, [
    [100, 6],
    [200, 3],
  ])
  assert.is(w.call('fd_write', 1, 0, 2, 16), 0)
  assert.is(w.view().getUint32(16, true), 9)
  const stop = stopOf(() => w.call('fd_write', 1, 0, 2, 16))
  assert.is(stop.reason, 'output_limit')
  assert.is(stop.value, 10)
  assert.is(w.host.stopped, stop)
  // once stopped, every host function unwinds again (a guest may have caught the first throw)
  assert.is(stopOf(() => w.call('sched_yield')), stop)
  assert.is(new TextDecoder().decode(w.host.finish().stdout), 'hello wor')
})

test('fd_write: stderr keeps stderrBytes and drops the rest, reporting a full write', () => {
  const w = setup('', { outputBytes: 10, stderrBytes: 16 })
  w.text('0123456789abcdefXYZ', 100)
  w.iovecs(0, [[100, 19]])
  assert.is(w.call('fd_write', 2, 0, 1, 16), 0)
  assert.is(w.view().getUint32(16, true), 19)
  assert.is(w.call('fd_write', 2, 0, 1, 16), 0)
  assert.is(w.call('fd_write', 0, 0, 1, 16), 8, 'stdin is not writable: EBADF')
  assert.equal(w.host.finish(), { stdout: new Uint8Array(0), stderr: '0123456789abcdef' })
})

test('out-of-bounds pointers and lengths give EFAULT, never a host exception', () => {
  const w = setup('abc')
  const end = 65536
  w.iovecs(0, [[end - 2, 4]]) // buffer runs past the end
  assert.is(w.call('fd_write', 1, 0, 1, 16), 21)
  assert.is(w.call('fd_read', 0, 0, 1, 16), 21)
  assert.is(w.call('fd_write', 1, end - 4, 1, 16), 21, 'iovec array past the end')
  assert.is(w.call('fd_write', 1, -16, 1, 16), 21, 'pointer above 2 GiB (negative as i32)')
  assert.is(w.call('fd_write', 1, 0, 1, -1), 21, 'result pointer past the end')
  assert.is(w.call('fd_read', 0, 0, 1, end), 21)
  assert.is(w.call('random_get', end - 10, 11), 21)
  assert.is(w.call('random_get', 0, -1), 21, 'length 4 GiB - 1')
  assert.is(w.call('clock_time_get', 0, 1n, end - 4), 21)
  assert.is(w.call('args_get', end, 0), 21)
  assert.is(w.call('args_sizes_get', 0, end - 2), 21)
  assert.is(w.call('fd_fdstat_get', 1, end - 8), 21)
  assert.is(w.call('fd_filestat_get', 1, end - 8), 21)
  assert.is(w.call('fd_write', 1, 0, 5000, 16), 28, 'more than IOV_MAX vectors: EINVAL')
  w.unbind()
  assert.is(w.call('fd_write', 1, 0, 1, 16), 21, 'no memory bound yet')
})

test('memory growth is picked up between calls', () => {
  const w = setup('grown')
  assert.is(w.call('fd_read', 0, 70000, 1, 16), 21)
  w.grow(1)
  w.iovecs(70000, [[100000, 16]])
  assert.is(w.call('fd_read', 0, 70000, 1, 70100), 0)
  assert.is(w.view().getUint32(70100, true), 5)
  assert.is(new TextDecoder().decode(w.bytes().subarray(100000, 100005)), 'grown')
})

test('args are ["job"], the environment is empty', () => {
  const w = setup()
  assert.is(w.call('args_sizes_get', 0, 4), 0)
  assert.is(w.view().getUint32(0, true), 1)
  assert.is(w.view().getUint32(4, true), 4)
  assert.is(w.call('args_get', 16, 32), 0)
  assert.is(w.view().getUint32(16, true), 32)
  assert.equal([...w.bytes().subarray(32, 36)], [...new TextEncoder().encode('job\0')])
  assert.is(w.call('environ_sizes_get', 40, 44), 0)
  assert.is(w.view().getUint32(40, true), 0)
  assert.is(w.view().getUint32(44, true), 0)
  assert.is(w.call('environ_get', 48, 52), 0)
})

test('fdstat and filestat describe character devices with stream rights', () => {
  const w = setup()
  assert.is(w.call('fd_fdstat_get', 0, 64), 0)
  assert.is(w.view().getUint8(64), 2, 'character_device')
  const stdinRights = w.view().getBigUint64(72, true)
  assert.is(stdinRights & (1n << 1n), 1n << 1n, 'stdin has fd_read')
  assert.is(stdinRights & (1n << 6n), 0n, 'stdin lacks fd_write')
  assert.is(w.call('fd_fdstat_get', 2, 64), 0)
  assert.is(w.view().getBigUint64(72, true) & (1n << 6n), 1n << 6n, 'stderr has fd_write')
  assert.is(w.view().getBigUint64(80, true), 0n, 'nothing inheritable')
  assert.is(w.call('fd_fdstat_get', 3, 64), 8)
  assert.is(w.call('fd_filestat_get', 1, 128), 0)
  assert.is(w.view().getUint8(128 + 16), 2)
  assert.is(w.view().getBigUint64(128 + 24, true), 1n)
  assert.is(w.call('fd_fdstat_set_flags', 1, 1), 0, 'append')
  assert.is(w.call('fd_fdstat_get', 1, 64), 0)
  assert.is(w.view().getUint16(66, true), 1)
  assert.is(w.call('fd_fdstat_set_flags', 1, 1 << 9), 28, 'unknown flag')
  // rights can only shrink
  assert.is(w.call('fd_fdstat_set_rights', 1, 1n << 1n, 0n), 76, 'cannot gain fd_read')
  assert.is(w.call('fd_fdstat_set_rights', 1, 0n, 0n), 0)
  w.iovecs(0, [[100, 1]])
  assert.is(w.call('fd_write', 1, 0, 1, 16), 76, 'fd_write right dropped')
})

test('fd_close and fd_renumber move the std streams', () => {
  const w = setup()
  w.text('X', 100)
  w.iovecs(0, [[100, 1]])
  assert.is(w.call('fd_renumber', 1, 2), 0) // fd 2 is now stdout, fd 1 closed
  assert.is(w.call('fd_write', 1, 0, 1, 16), 8)
  assert.is(w.call('fd_write', 2, 0, 1, 16), 0)
  assert.is(w.call('fd_close', 2), 0)
  assert.is(w.call('fd_close', 2), 8)
  assert.is(w.call('fd_renumber', 0, 9), 8)
  assert.equal(w.host.finish(), { stdout: new TextEncoder().encode('X'), stderr: '' })
})

test('files, seeking, polling and sockets answer with their errnos', () => {
  const w = setup()
  assert.is(w.call('fd_seek', 1, 0n, 0, 16), 70, 'ESPIPE')
  assert.is(w.call('fd_tell', 0, 16), 70)
  assert.is(w.call('fd_seek', 5, 0n, 0, 16), 8, 'EBADF')
  assert.is(w.call('fd_prestat_get', 3, 16), 8)
  assert.is(w.call('fd_prestat_get', 0, 16), 8)
  assert.is(w.call('fd_prestat_dir_name', 3, 16, 8), 8)
  assert.is(w.call('path_open', 3, 0, 64, 11, 0, 0n, 0n, 0, 16), 8)
  assert.is(w.call('path_open', 0, 0, 64, 11, 0, 0n, 0n, 0, 16), 76, 'ENOTCAPABLE')
  assert.is(w.call('path_symlink', 64, 1, 4, 64, 1), 8, 'fd is the third argument')
  assert.is(w.call('path_rename', 0, 64, 1, 7, 64, 1), 8, 'second fd unknown')
  assert.is(w.call('fd_readdir', 1, 64, 8, 0n, 16), 54, 'ENOTDIR')
  assert.is(w.call('fd_sync', 1), 28)
  assert.is(w.call('fd_pwrite', 1, 0, 1, 0n, 16), 70)
  assert.is(w.call('poll_oneoff', 0, 64, 1, 16), 58, 'ENOTSUP')
  assert.is(w.call('poll_oneoff', 0, 64, 0, 16), 28, 'no subscriptions: EINVAL')
  for (const sock of ['sock_accept', 'sock_recv', 'sock_send', 'sock_shutdown']) assert.is(w.call(sock, 1, 0, 0, 0, 0, 0), 52)
  assert.is(w.call('sched_yield'), 0)
})

test('clocks and random bytes', () => {
  const w = setup()
  assert.is(w.call('clock_time_get', 0, 1n, 8), 0)
  const realtimeMs = Number(w.view().getBigUint64(8, true) / 1_000_000n)
  assert.ok(Math.abs(realtimeMs - Date.now()) < 1000, 'realtime is now')
  assert.is(w.call('clock_time_get', 1, 1n, 8), 0)
  const a = w.view().getBigUint64(8, true)
  assert.is(w.call('clock_time_get', 1, 1n, 8), 0)
  assert.ok(w.view().getBigUint64(8, true) >= a, 'monotonic')
  assert.is(w.call('clock_time_get', 2, 1n, 8), 0)
  assert.ok(w.view().getBigUint64(8, true) < 10_000_000_000n, 'cpu time counts from the run start')
  assert.is(w.call('clock_time_get', 9, 1n, 8), 28)
  assert.is(w.call('clock_res_get', 0, 8), 0)
  assert.is(w.view().getBigUint64(8, true), 1_000_000n)
  assert.is(w.call('clock_res_get', 4, 8), 28)
  // more than one getRandomValues chunk
  assert.is(w.call('random_get', 100, 60000), 0)
  w.grow(2)
  assert.is(w.call('random_get', 0, 150_000), 0)
  const tail = w.bytes().subarray(140_000, 150_000)
  assert.ok(tail.some((b) => b !== 0))
  assert.ok(new Set(tail).size > 200, 'looks random')
})

test('proc_exit and proc_raise unwind with a recorded stop', () => {
  let w = setup()
  const exit = stopOf(() => w.call('proc_exit', 3))
  assert.equal([exit.reason, exit.value], ['exit', 3])
  w = setup()
  assert.is(w.call('proc_raise', 13), 0, 'SIGPIPE is ignored')
  assert.is(w.call('proc_raise', 0), 28)
  assert.is(w.call('proc_raise', 99), 28)
  const raised = stopOf(() => w.call('proc_raise', 6))
  assert.equal([raised.reason, raised.value], ['signal', 6])
  // begin() starts clean
  w.host.begin(new Uint8Array(0), { outputBytes: 1, stderrBytes: 1 })
  assert.is(w.host.stopped, null)
  assert.is(w.call('sched_yield'), 0)
})

test.run()
