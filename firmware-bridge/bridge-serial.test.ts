/**
 * Real serial end to end: a socat pty pair, the real `serialport` library on
 * both ends, the simulated MCU on one end, the bridge on the other, a real
 * aedes broker on port 0 and a plain MQTT client reading what comes out.
 */
import { SerialPort } from 'serialport'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { collect, plainClient } from '../test/support/mqtt-clients.ts'
import { testNeeding } from '../test/support/programs.ts'
import { tmpDir } from '../test/support/temp-dirs.ts'
import { testBroker } from '../test/support/test-broker.ts'
import { waitFor } from '../test/support/wait.ts'
import { Bridge } from './bridge.ts'
import { parseConfig } from './config.ts'
import { startMcu } from './sim/mcu-process.ts'
import { startPtyPair } from './sim/pty-pair.ts'
import { nmeaSentence } from './serial/nmea.ts'

const run = testNeeding(test, 'socat')

run('readings flow from a simulated MCU on a pty into MQTT; requests, actuation, garbage, unplug and replug', async () => {
  const broker = await testBroker()
  const dir = tmpDir('fm-bridge-')
  const pty = await startPtyPair(dir)
  const gps = await startPtyPair(tmpDir('fm-gps-'))
  const mcu = startMcu(pty.device, { intervalMs: 20 })
  const config = parseConfig({
    name: 'site1',
    limits: { reconnectMinMs: 50, reconnectMaxMs: 200, statsIntervalMs: 0 },
    serial: [
      { name: 'mcu', path: pty.bridge, protocol: 'json-lines', sensors: { temp: { unit: 'C' } } },
      { name: 'gps', path: gps.bridge, protocol: 'nmea', baudRate: 9600 },
    ],
    actuators: [{ name: 'fan', serial: { device: 'mcu' }, allowed: [0, 1], watchdogMs: 800, safe: 0, rateLimit: { perSecond: 50 } }],
  })
  const bridge = await Bridge.start({ broker: broker.url, config })
  const sub = await plainClient(broker.url)
  const got = collect(sub)
  await sub.subscribeAsync(['fm/v1/bridge/site1/readings/#', 'fm/v1/bridge/site1/events', 'fm/v1/bridge/site1/state/#'])
  const gpsPort = new SerialPort({ path: gps.device, baudRate: 9600 })
  try {
    // 1. readings
    await mcu.waitFor((r) => r.event === 'ready', 10_000, 'the MCU to open its port')
    const readings = () => got.filter((m) => m.topic === 'fm/v1/bridge/site1/readings/mcu/temp').map((m) => JSON.parse(String(m.payload)))
    await waitFor(() => readings().length >= 10, 10_000, '10 temp readings over MQTT')
    const rs = readings()
    assert.equal(Object.keys(rs[0]).sort(), ['device', 'deviceTime', 'sensor', 'seq', 'ts', 'unit', 'value'])
    assert.is(rs[0].unit, 'C')
    assert.ok(rs.every((r, i) => i === 0 || r.seq > rs[i - 1].seq), 'seq increases')
    assert.ok(rs.every((r) => typeof r.value === 'number' && r.value >= 19.8 && r.value <= 22.2))

    // 2. request/response with ids, errors and timeouts
    const dev = bridge.devices.get('mcu')!
    assert.type(await dev.request('ping'), 'number')
    await dev.request('set', { name: 'nosuch', v: 1 }).then(() => assert.unreachable(), (e) => assert.match(e.message, /unknown actuator nosuch/))
    const gpsDev = bridge.devices.get('gps')!
    await waitFor(() => gpsDev.isOpen, 5000, 'the gps port to open')
    await gpsDev.requestText('$PFMQ,1', /^\$PFMA/, 150).then(() => assert.unreachable(), (e) => assert.is(e.code, 'deadline'))
    assert.is(gpsDev.stats.requests.timedOut, 1)

    // 3. actuation through the guards, down to the device
    sub.publish('fm/v1/bridge/site1/commands/fan', '1')
    await mcu.waitFor((r) => r.event === 'set' && r.name === 'fan' && r.v === 1, 5000, 'fan=1 on the MCU')
    await waitFor(() => got.some((m) => m.topic === 'fm/v1/bridge/site1/state/fan' && JSON.parse(String(m.payload)).value === 1), 5000, 'state fan=1')
    sub.publish('fm/v1/bridge/site1/commands/fan', '7')
    await waitFor(() => got.some((m) => m.topic === 'fm/v1/bridge/site1/events' && /not_allowed/.test(String(m.payload))), 5000, 'the refusal of 7')
    // results stop arriving: the watchdog puts the fan back to its safe 0
    await mcu.waitFor((r) => r.event === 'set' && r.name === 'fan' && r.v === 0, 5000, 'the watchdog setting fan=0')
    assert.ok(bridge.actuators.get('fan')!.stats.watchdog >= 1, 'the watchdog tripped (a loaded machine may trip it once more before the first command)')

    // 4. garbage on the line: counted, dropped, never a crash
    mcu.send('noise 4000')
    mcu.send('overlong 5000')
    mcu.send('hex 00ff00fe0d0a')
    mcu.send('line {"s":"temp","v":')
    const good = nmeaSentence('GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,')
    const bad = good.slice(0, -2) + (good.endsWith('00') ? '01' : '00')
    gpsPort.write(`${good}\r\n${bad}\r\n${bad.replace('4807', '4808')}\r\n`)
    gpsPort.write(Buffer.from([0x24, 0xff, 0xfe, 0x0d, 0x0a]))
    gpsPort.write(`${good}\r\n`)
    await waitFor(() => dev.stats.drops.overlong >= 1 && dev.stats.drops.noise >= 1, 5000, 'noise and overlong drops')
    await waitFor(() => gpsDev.stats.drops.checksum === 2 && gpsDev.stats.drops.noise === 1, 5000, 'two checksum drops and one noise drop on the gps')
    const lats = () => got.filter((m) => m.topic === 'fm/v1/bridge/site1/readings/gps/lat').map((m) => JSON.parse(String(m.payload)).value)
    await waitFor(() => lats().length === 2, 5000, 'both good GGA sentences published')
    assert.equal(lats(), [48.1173, 48.1173])
    assert.ok(dev.stats.drops.invalid >= 1, 'the truncated JSON line is invalid')
    const before = readings().length
    await waitFor(() => readings().length > before + 5, 5000, 'readings still flowing after the garbage')

    // 5. unplugged, then plugged back: the bridge reconnects by itself
    const closes = dev.stats.closes
    await pty.unplug()
    await waitFor(() => dev.stats.closes === closes + 1, 5000, 'the bridge to see the device go')
    await waitFor(() => got.some((m) => m.topic === 'fm/v1/bridge/site1/events' && /"state":"closed"/.test(String(m.payload))), 5000, 'the closed event')
    await new Promise((r) => setTimeout(r, 300)) // a few failed reopen attempts
    await pty.plug()
    await waitFor(() => dev.isOpen && dev.stats.opens === 2, 10_000, 'the bridge to reopen the device')
    const after = readings().length
    await waitFor(() => readings().length > after + 5, 10_000, 'readings flowing again after the replug')
    assert.type(await dev.request('ping'), 'number')
    assert.ok(bridge.stats().devices.mcu!.readings > 20)
  } finally {
    await new Promise<void>((r) => (gpsPort.isOpen ? gpsPort.close(() => r()) : r()))
    await bridge.close()
    await mcu.stop()
    await pty.stop()
    await gps.stop()
    await sub.endAsync()
    await broker.close()
  }
})

test.run()
