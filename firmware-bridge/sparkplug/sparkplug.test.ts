/**
 * Sparkplug B as a SCADA host sees it: a plain MQTT client on a real aedes
 * broker, decoding every payload with protobufjs straight from the schema
 * file (not through the bridge's own payload module).
 */
import { readFileSync } from 'node:fs'
import protobuf from 'protobufjs'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { collect, plainClient } from '../../test/support/mqtt-clients.ts'
import { testBroker } from '../../test/support/test-broker.ts'
import { waitFor } from '../../test/support/wait.ts'
import { Bridge } from '../bridge.ts'
import { parseConfig } from '../config.ts'
import { MemoryChip } from '../gpio/memory-chip.ts'

const Payload = protobuf.parse(readFileSync(new URL('./sparkplug_b.proto', import.meta.url), 'utf8')).root.lookupType('org.eclipse.tahu.protobuf.Payload')
interface Host {
  topic: string
  seq?: number
  metrics: Array<{ name: string; datatype: number; value: unknown }>
}
function decode(topic: string, bytes: Buffer): Host {
  const o = Payload.toObject(Payload.decode(bytes), { longs: Number, oneofs: true }) as { seq?: number; metrics?: Array<Record<string, unknown>> }
  return {
    topic,
    ...(o.seq === undefined ? {} : { seq: o.seq }),
    metrics: (o.metrics ?? []).map((m) => ({ name: String(m.name), datatype: Number(m.datatype), value: m.value ? m[m.value as string] : undefined })),
  }
}
const encode = (metrics: Array<Record<string, unknown>>) => Buffer.from(Payload.encode(Payload.fromObject({ timestamp: Date.now(), metrics })).finish())

test('births with bdSeq, data, rebirth on NCMD, DCMD through the guards, NDEATH as the will, seq wrapping', async () => {
  const broker = await testBroker()
  const chip = new MemoryChip({ 5: 0 })
  const config = parseConfig({
    name: 'spb',
    limits: { statsIntervalMs: 0 },
    gpio: { driver: 'memory', device: 'io', inputs: [{ name: 'door', line: 5, debounceMs: 10 }], outputs: [{ name: 'relay', line: 6 }] },
    actuators: [{ name: 'pump', gpio: 'relay', allowed: [0, 1], safe: 0 }],
    sparkplug: { group: 'plant', node: 'edge1', reconnectMs: 100 },
  })
  const host = await plainClient(broker.url)
  const raw = collect(host)
  await host.subscribeAsync('spBv1.0/#')
  // what the node published (not the host's own commands)
  const seen = () => raw.filter((m) => !/\/(NCMD|DCMD)\//.test(m.topic)).map((m) => decode(m.topic, m.payload))
  const bridge = await Bridge.start({ broker: broker.url, config, gpioChip: chip })
  try {
    // NBIRTH then DBIRTH
    await waitFor(() => seen().some((m) => m.topic === 'spBv1.0/plant/DBIRTH/edge1/io'), 5000, 'DBIRTH')
    const [nbirth, dbirth] = seen()
    assert.is(nbirth!.topic, 'spBv1.0/plant/NBIRTH/edge1')
    assert.is(nbirth!.seq, 0)
    assert.equal(nbirth!.metrics, [
      { name: 'bdSeq', datatype: 4, value: 0 },
      { name: 'Node Control/Rebirth', datatype: 11, value: false },
    ])
    assert.is(dbirth!.seq, 1)
    assert.equal(dbirth!.metrics.map((m) => [m.name, m.datatype, m.value]), [['door', 10, 0], ['pump', 10, 0]])

    // an input change becomes DDATA
    chip.drive(5, 1)
    await waitFor(() => seen().some((m) => m.topic === 'spBv1.0/plant/DDATA/edge1/io'), 5000, 'DDATA for the door')
    const ddata = seen().find((m) => m.topic === 'spBv1.0/plant/DDATA/edge1/io')!
    assert.is(ddata.seq, 2)
    assert.equal(ddata.metrics, [{ name: 'door', datatype: 10, value: 1 }])

    // DCMD: a host writes the pump; the guard lets 1 through and refuses 3
    host.publish('spBv1.0/plant/DCMD/edge1/io', encode([{ name: 'pump', datatype: 10, doubleValue: 1 }]))
    await waitFor(() => chip.level(6) === 1, 5000, 'the relay on')
    host.publish('spBv1.0/plant/DCMD/edge1/io', encode([{ name: 'pump', datatype: 10, doubleValue: 3 }]))
    await waitFor(() => bridge.actuators.get('pump')!.stats.refused === 1, 5000, 'the refusal of 3')
    assert.is(chip.level(6), 1)

    // rebirth on request: NBIRTH seq 0 again, same bdSeq, then DBIRTH with the current values
    raw.length = 0
    host.publish('spBv1.0/plant/NCMD/edge1', encode([{ name: 'Node Control/Rebirth', datatype: 11, booleanValue: true }]))
    await waitFor(() => seen().some((m) => m.topic === 'spBv1.0/plant/DBIRTH/edge1/io'), 5000, 'DBIRTH after rebirth')
    const re = seen()
    assert.is(re[0]!.topic, 'spBv1.0/plant/NBIRTH/edge1')
    assert.is(re[0]!.seq, 0)
    assert.is(re[0]!.metrics[0]!.value, 0, 'same bdSeq: same session')
    assert.equal(re[1]!.metrics.find((m) => m.name === 'pump')!.value, 1)

    // seq wraps 255 → 0
    raw.length = 0
    for (let i = 0; i < 300; i++) bridge.sparkplug!.update('io', [{ name: 'door', value: i % 2 }])
    await waitFor(() => seen().length >= 300, 5000, '300 DDATA')
    const seqs = seen().map((m) => m.seq)
    assert.is(seqs[0], 2)
    assert.is(seqs[253], 255)
    assert.is(seqs[254], 0)
    assert.ok(seqs.every((s, i) => i === 0 || s === ((seqs[i - 1]! + 1) & 0xff)), 'no gap, no repeat')

    // a device that goes away: DDEATH
    raw.length = 0
    bridge.sparkplug!.deviceOffline('io')
    await waitFor(() => seen().some((m) => m.topic === 'spBv1.0/plant/DDEATH/edge1/io'), 5000, 'DDEATH')
    bridge.sparkplug!.deviceOnline('io')

    // the connection dies without a goodbye: the broker sends NDEATH (the will, bdSeq 0); the node comes back with bdSeq 1
    raw.length = 0
    ;(bridge.sparkplug as unknown as { conn: { client: { stream: { destroy(): void } } } }).conn.client.stream.destroy()
    await waitFor(() => seen().some((m) => m.topic === 'spBv1.0/plant/NDEATH/edge1'), 5000, 'NDEATH from the will')
    assert.equal(seen().find((m) => m.topic === 'spBv1.0/plant/NDEATH/edge1')!.metrics, [{ name: 'bdSeq', datatype: 4, value: 0 }])
    await waitFor(() => seen().some((m) => m.topic === 'spBv1.0/plant/NBIRTH/edge1'), 5000, 'NBIRTH of the new session')
    assert.is(seen().find((m) => m.topic === 'spBv1.0/plant/NBIRTH/edge1')!.metrics[0]!.value, 1)
  } finally {
    raw.length = 0
    await bridge.close()
  }
  // an orderly close publishes NDEATH itself, with the current bdSeq
  await waitFor(() => seen().some((m) => m.topic === 'spBv1.0/plant/NDEATH/edge1'), 5000, 'NDEATH on close')
  assert.is(seen().find((m) => m.topic === 'spBv1.0/plant/NDEATH/edge1')!.metrics[0]!.value, 1)
  await host.endAsync()
  await broker.close()
})

test.run()
