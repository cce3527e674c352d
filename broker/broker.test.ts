import { createHash } from 'node:crypto'
import { connect as netConnect } from 'node:net'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { startBroker } from './broker.ts'
import { PortInUseError, ValidationError } from '../protocol/errors.ts'
import { collect, plainClient } from '../test/support/mqtt-clients.ts'
import { freePort } from '../test/support/ports.ts'
import { testBroker } from '../test/support/test-broker.ts'
import { sleep, waitFor } from '../test/support/wait.ts'

test('plain MQTT 3.1.1 over TCP and over WebSocket reach each other', async () => {
  const broker = await testBroker()
  try {
    const tcp = await plainClient(broker.url)
    const ws = await plainClient(broker.wsUrl!)
    const got = collect(ws)
    await ws.subscribeAsync('t/#', { qos: 1 })
    await tcp.publishAsync('t/x', 'hello', { qos: 1 })
    await waitFor(() => got.length === 1, 10_000, 'ws message')
    assert.is(got[0]!.payload.toString(), 'hello')
    await tcp.endAsync()
    await ws.endAsync()
  } finally {
    await broker.close()
  }
})

test('an oversize packet closes that connection before its body arrives; others keep working', async () => {
  const broker = await testBroker({ maxPacketBytes: 4096, maxModuleBytes: 65536 })
  const violations: unknown[] = []
  broker.on('violation', (v) => violations.push(v))
  try {
    const good = await plainClient(broker.url)
    const got = collect(good)
    await good.subscribeAsync('t/#')
    // a raw socket: CONNECT, then a PUBLISH header declaring 1 MB, and no body
    const raw = netConnect(broker.port, '127.0.0.1')
    const closed = new Promise<void>((r) => raw.on('close', () => r()))
    raw.on('error', () => {})
    raw.resume() // read (and drop) the CONNACK, so that the close is seen
    raw.write(Buffer.from([0x10, 0x10, 0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, 0x04, 0x02, 0x00, 0x3c, 0x00, 0x04, 0x72, 0x61, 0x77, 0x31]))
    await sleep(50)
    raw.write(Buffer.from([0x30, 0x80, 0x80, 0x40, 0x00, 0x03, 0x74, 0x2f, 0x78]))
    await closed
    assert.is(violations.length, 1)
    assert.equal((violations[0] as { declaredBytes: number }).declaredBytes, 1048576)
    await good.publishAsync('t/ok', 'still here')
    await waitFor(() => got.some((m) => m.payload.toString() === 'still here'), 10_000, 'broker still serving')
    await good.endAsync()
  } finally {
    await broker.close()
  }
})

test('fm/v1/modules/# has its own larger cap, and the bytes must hash to the topic', async () => {
  const broker = await testBroker({ maxPacketBytes: 4096, maxModuleBytes: 256 * 1024 })
  const rejected: string[] = []
  broker.on('moduleRejected', (m) => rejected.push(m.reason))
  try {
    const bytes = Buffer.alloc(100 * 1024, 7)
    const sha = createHash('sha256').update(bytes).digest('hex')
    const pub = await plainClient(broker.url)
    await pub.publishAsync(`fm/v1/modules/${sha}`, bytes, { qos: 1, retain: true })
    await pub.endAsync()
    const sub = await plainClient(broker.url)
    const got = collect(sub)
    await sub.subscribeAsync(`fm/v1/modules/${sha}`)
    await waitFor(() => got.length === 1, 10_000, 'retained module')
    assert.ok(got[0]!.retain)
    assert.equal(createHash('sha256').update(got[0]!.payload).digest('hex'), sha)

    // wrong bytes under a hash: refused, the publisher is disconnected, nothing retained
    const liar = await plainClient(broker.url)
    const liarClosed = new Promise<void>((r) => liar.on('close', () => r()))
    const fake = 'ab'.repeat(32)
    liar.publish(`fm/v1/modules/${fake}`, Buffer.from('not that module'), { qos: 1, retain: true })
    await liarClosed
    assert.is(rejected.length, 1)
    assert.match(rejected[0]!, /hash to/)
    const check = await plainClient(broker.url)
    const got2 = collect(check)
    await check.subscribeAsync(`fm/v1/modules/${fake}`)
    await sleep(200)
    assert.is(got2.length, 0)
    liar.end(true)
    await sub.endAsync()
    await check.endAsync()
  } finally {
    await broker.close()
  }
})

test('$SYS/ is the broker\'s: a client publish there is refused and the client disconnected; $SYS/# subscribers get nothing from it', async () => {
  const broker = await testBroker()
  try {
    const sub = await plainClient(broker.url)
    const got = collect(sub)
    await sub.subscribeAsync('$SYS/fake/#')
    const liar = await plainClient(broker.url)
    let closed = false
    liar.on('close', () => (closed = true))
    liar.publish('$SYS/fake/uptime', 'forged', { qos: 1 })
    await waitFor(() => closed, 3000, 'the forger disconnected')
    // an ordinary publish on the same broker still goes through
    const ok = await plainClient(broker.url)
    const okGot = collect(sub)
    await sub.subscribeAsync('t/sys')
    await ok.publishAsync('t/sys', 'fine', { qos: 1 })
    await waitFor(() => okGot.length === 1, 10_000, 'ordinary message')
    assert.is(got.filter((m) => m.topic.startsWith('$SYS/fake')).length, 0)
    liar.end(true)
    await ok.endAsync()
    await sub.endAsync()
  } finally {
    await broker.close()
  }
})

test('close() ends client connections and frees the ports', async () => {
  const broker = await testBroker()
  const c = await plainClient(broker.url)
  const closed = new Promise<void>((r) => c.on('close', () => r()))
  await broker.close()
  await closed
  const refused = await new Promise<boolean>((resolve) => {
    const s = netConnect(broker.port, '127.0.0.1')
    s.on('error', () => resolve(true))
    s.on('connect', () => {
      s.destroy()
      resolve(false)
    })
  })
  assert.ok(refused)
  c.end(true)
})

test('options: an explicit undefined keeps the default; out of range is refused naming the field', async () => {
  const broker = await startBroker({ port: 0, wsPort: undefined, host: undefined, maxPacketBytes: undefined, maxModuleBytes: undefined })
  try {
    assert.ok(broker.url.startsWith('mqtt://127.0.0.1:'), 'host: the default, loopback')
    assert.type(broker.wsPort, 'number', 'wsPort: the default, any free port')
  } finally {
    await broker.close()
  }
  const cases: Array<[Parameters<typeof startBroker>[0], string]> = [
    [{ port: 70000 }, 'broker.port'],
    [{ port: 0, wsPort: -1 }, 'broker.wsPort'],
    [{ port: 0, wsPort: 1.5 }, 'broker.wsPort'],
    [{ port: 0, maxPacketBytes: 10 }, 'broker.maxPacketBytes'],
    [{ port: 0, maxModuleBytes: 2 ** 30 }, 'broker.maxModuleBytes'],
  ]
  for (const [options, field] of cases) {
    const err = await startBroker(options).then(
      (b) => (b.close(), undefined),
      (e: unknown) => e,
    )
    assert.instance(err, ValidationError, `${JSON.stringify(options)} is refused`)
    assert.is((err as ValidationError).field, field)
  }
})

test('a taken port is a PortInUseError naming the option, and the failed start leaves nothing listening', async () => {
  const holder = await testBroker()
  try {
    const mqttPort = await freePort()
    for (const [options, option, port] of [
      [{ port: holder.port, wsPort: 0 }, 'port', holder.port],
      [{ port: mqttPort, wsPort: holder.wsPort! }, 'wsPort', holder.wsPort!],
    ] as const) {
      const err = await startBroker({ host: '127.0.0.1', ...options }).then(
        (b) => (b.close(), undefined),
        (e: unknown) => e,
      )
      assert.instance(err, PortInUseError, `${option} taken`)
      assert.is((err as PortInUseError).option, option)
      assert.is((err as PortInUseError).port, port)
      assert.is((err as PortInUseError).code, 'port_in_use')
    }
    assert.ok(await refused(mqttPort), 'the MQTT listener of the start that failed on its WebSocket port was closed')
    // the holder is unharmed
    const c = await plainClient(holder.url)
    await c.endAsync()
  } finally {
    await holder.close()
  }
})

function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = netConnect(port, '127.0.0.1')
    s.on('error', () => resolve(true))
    s.on('connect', () => {
      s.destroy()
      resolve(false)
    })
  })
}

test.run()
