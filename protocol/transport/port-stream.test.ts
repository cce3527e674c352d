import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { MessageChannel, Worker } from 'node:worker_threads'
import { PortStream } from './port-stream.ts'

const next = () => new Promise((r) => setTimeout(r, 20))

test('bytes both ways, in order; corked writes arrive whole; end ends the other side', async () => {
  const { port1, port2 } = new MessageChannel()
  const a = new PortStream(port1)
  const b = new PortStream(port2)
  const got: Buffer[] = []
  b.on('data', (d: Buffer) => got.push(d))
  const back: Buffer[] = []
  a.on('data', (d: Buffer) => back.push(d))
  const pool = Buffer.from('0123456789')
  a.write(pool.subarray(2, 5)) // a view into a larger buffer: only its bytes travel
  a.cork()
  a.write('x')
  a.write('yz')
  a.uncork()
  b.write('pong')
  await next()
  assert.is(Buffer.concat(got).toString(), '234xyz')
  assert.is(Buffer.concat(back).toString(), 'pong')
  const ended = new Promise((r) => b.once('end', r))
  a.end()
  await ended
  a.destroy()
  b.destroy()
})

test('a reader that does not read holds the writer back at the window; reading lets it go on', async () => {
  const { port1, port2 } = new MessageChannel()
  const w = new PortStream(port1, 4096)
  const r = new PortStream(port2, 4096)
  r.pause()
  const chunk = Buffer.alloc(1024, 1)
  let completed = 0
  for (let i = 0; i < 64; i++) w.write(chunk, () => completed++)
  for (let i = 0; i < 10; i++) await next()
  // the window (4 KiB) plus what the paused reader's own buffer (16 KiB high water mark) takes before it stops acknowledging
  assert.ok(completed < 64, `the writer waits: ${completed} of 64 writes completed`)
  assert.ok(w.writableNeedDrain, 'write() says wait')
  let read = 0
  r.on('data', (d: Buffer) => (read += d.length))
  r.resume()
  await new Promise((res) => w.once('drain', res))
  for (let i = 0; i < 10 && read < 64 * 1024; i++) await next()
  assert.is(read, 64 * 1024, 'everything arrived')
  assert.is(completed, 64)
  w.destroy()
  r.destroy()
})

test('the other end\'s thread ending closes this end, like a reset socket', async () => {
  const { port1, port2 } = new MessageChannel()
  const s = new PortStream(port1)
  const closed = new Promise((r) => s.once('close', r))
  s.on('error', () => {})
  const w = new Worker('const { workerData } = require("node:worker_threads"); workerData.port.postMessage(new Uint8Array([104, 105])); setTimeout(() => process.exit(0), 20)', {
    eval: true,
    workerData: { port: port2 },
    transferList: [port2],
  })
  let got = ''
  s.on('data', (d: Buffer) => (got += d.toString()))
  await closed
  assert.is(got, 'hi')
  assert.ok(s.destroyed)
  await w.terminate()
})

test.run()
