/**
 * Stream jobs at the data, end to end with real parts: a simulated MCU on a
 * socat pty → the firmware bridge (real `serialport`) → readings on a real
 * aedes broker → a stream job running the anomaly model (tfjs, wasm backend)
 * on `fogmesh agent` processes → results on the bridge's command topic → the
 * guarded GPIO output (in-memory twin). The primary agent is SIGKILLed
 * mid-stream; its standby takes over, and the windows' sequence numbers and
 * input digests prove that no window and no reading was lost. Garbage on the
 * serial line is counted and dropped by the bridge; the stream goes on.
 */
import { createHash } from 'node:crypto'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { Bridge } from '../firmware-bridge/bridge.ts'
import { parseConfig } from '../firmware-bridge/config.ts'
import { MemoryChip } from '../firmware-bridge/gpio/memory-chip.ts'
import { startMcu } from '../firmware-bridge/sim/mcu-process.ts'
import { startPtyPair } from '../firmware-bridge/sim/pty-pair.ts'
import { startGateway } from '../market/gateway.ts'
import { loadModelBytes } from '../models/index.ts'
import { topics } from '../protocol/topics.ts'
import { spawnAgent } from './support/agents.ts'
import { collect, plainClient } from './support/mqtt-clients.ts'
import { testNeeding } from './support/programs.ts'
import { tmpDir } from './support/temp-dirs.ts'
import { testBroker } from './support/test-broker.ts'
import { waitFor } from './support/wait.ts'

const run = testNeeding(test, 'socat')
const W = 16
const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex')

run('MCU → bridge → stream job (anomaly model) → GPIO; the primary SIGKILLed mid-stream; no window lost; serial garbage dropped', async () => {
  const broker = await testBroker()
  const pty = await startPtyPair(tmpDir('fm-streams-pty-'))
  const mcu = startMcu(pty.device, { intervalMs: 25 })
  const chip = new MemoryChip()
  const P = 'fm/v1/bridge/site1'
  const config = parseConfig({
    name: 'site1',
    limits: { statsIntervalMs: 0 },
    serial: [{ name: 'mcu', path: pty.bridge, protocol: 'json-lines', sensors: { temp: { unit: 'C' } } }],
    gpio: { driver: 'memory', outputs: [{ name: 'alarm', line: 2 }] },
    actuators: [{ name: 'alarm', gpio: 'alarm', allowed: [0, 1], rateLimit: { perSecond: 100, burst: 20 }, watchdogMs: 20_000, safe: 0 }],
  })
  const bridge = await Bridge.start({ broker: broker.url, config, gpioChip: chip })
  const gateway = await startGateway({ broker: broker.url })
  const agents = [await spawnAgent(broker.url, 's1a', ['--labels', 'site=s1']), await spawnAgent(broker.url, 's1b', ['--labels', 'site=s1'])]
  const watcher = await plainClient(broker.url)
  const got = collect(watcher)
  try {
    await gateway.requester.directory.waitFor(2, 20_000)
    const model = await loadModelBytes('anomaly')
    const modelSha = sha256(model)
    await watcher.publishAsync(topics.model(modelSha), model, { qos: 1, retain: true })
    const source = `${P}/readings/mcu/temp`
    const replyTo = `${P}/commands/alarm`
    await watcher.subscribeAsync([source, replyTo, `${P}/state/alarm`], { qos: 1 })
    await mcu.waitFor((r) => r.event === 'ready', 15_000, 'the MCU to open its port')

    const placed = new Promise<{ stream: string; primary: string; standby: string | undefined }>((r) => gateway.streams.once('placed', r))
    await watcher.publishAsync(topics.streamSubmit, JSON.stringify({
      id: 'alarm', module: modelSha, source, window: { count: W }, replyTo, constraints: { labels: { site: 's1' } },
    }), { qos: 1 })
    const placement = await placed
    assert.ok(placement.standby, 'a standby of the same site')
    const results = () => got.filter((m) => m.topic === replyTo).map((m) => JSON.parse(String(m.payload)))
    const windows = () => results().filter((r) => r.type === 'window' && r.status === 'ok')
    await waitFor(() => windows().length >= 4, 60_000, '4 windows from the primary')
    assert.ok(windows().every((r) => r.agent === placement.primary && JSON.parse(Buffer.from(r.output, 'base64').toString()).value === 0), 'normal windows: no anomaly')
    assert.is(chip.level(2), 0)

    // an anomaly: one reading far off the wave drives the alarm output to 1
    mcu.send('reading temp 35')
    await waitFor(() => chip.history(2).includes(1), 30_000, 'the alarm GPIO set by an anomalous window')
    const spike = windows().find((r) => JSON.parse(Buffer.from(r.output, 'base64').toString()).value === 1)
    assert.ok(spike, 'a window scored as an anomaly')
    assert.ok(JSON.parse(Buffer.from(spike.output, 'base64').toString()).score > JSON.parse(Buffer.from(spike.output, 'base64').toString()).threshold)

    // SIGKILL the primary mid-stream: the standby takes over from the next window
    const primary = agents.find((a) => a.id === placement.primary)!
    const before = windows().length
    const takeover = new Promise<{ to: string; warm: boolean }>((r) => gateway.streams.once('takeover', r))
    await primary.kill('SIGKILL')
    const t = await takeover
    assert.is(t.to, placement.standby)
    assert.ok(t.warm, 'the standby was promoted')
    await waitFor(() => windows().filter((r) => r.agent === placement.standby).length >= 6, 60_000, '6 windows from the new primary')

    // garbage on the serial line: counted and dropped by the bridge, the stream goes on
    const drops = () => Object.values(bridge.stats().devices.mcu?.drops ?? {}).reduce((a, b) => a + b, 0)
    const dropsBefore = drops()
    mcu.send('noise 300')
    mcu.send('overlong 5000')
    mcu.send('line {"s":"temp","v":')
    await waitFor(() => drops() >= dropsBefore + 2, 15_000, 'garbage counted as drops')
    const afterGarbage = windows().length
    await waitFor(() => windows().length >= afterGarbage + 3, 60_000, 'windows after the garbage')

    // the proof: every seq from 1 to the last, and each window the 16 readings right after the one before
    const readings = got.filter((m) => m.topic === source).map((m) => String(m.payload))
    const startOf = new Map<string, number>()
    for (let i = 0; i + W <= readings.length; i++) startOf.set(sha256(readings.slice(i, i + W).map((l) => `${l}\n`).join('')), i)
    const bySeq = new Map<number, { inputSha256: string; agent: string }>()
    for (const r of windows()) {
      const seen = bySeq.get(r.seq)
      if (seen) assert.is(seen.inputSha256, r.inputSha256, `a duplicate of window ${r.seq} has the same input`)
      else bySeq.set(r.seq, r)
    }
    const last = Math.max(...bySeq.keys())
    assert.ok(last > before, 'windows continued after the kill')
    const first = startOf.get(bySeq.get(1)!.inputSha256)
    assert.ok(first !== undefined, 'window 1 is 16 consecutive readings')
    for (let seq = 1; seq <= last; seq++) {
      const w = bySeq.get(seq)
      assert.ok(w, `window ${seq} was published ok; its answers: ${JSON.stringify(results().filter((r) => r.seq === seq).map((r) => ({ status: r.status, error: r.error, agent: r.agent })))}`)
      assert.is(startOf.get(w.inputSha256), first! + (seq - 1) * W, `window ${seq} holds readings ${first! + (seq - 1) * W}.. (the 16 after window ${seq - 1})`)
    }
    assert.ok([...bySeq.values()].some((w) => w.agent === placement.standby), 'the standby published windows')
    const alarm = bridge.actuators.get('alarm')!.stats
    const dup = windows().length - bySeq.size
    console.log(`  windows 1..${last} contiguous (${dup} duplicate${dup === 1 ? '' : 's'} after the takeover), killed after ${before}; ` +
      `alarm GPIO history ${chip.history(2).join('')}; actuator applied ${alarm.applied}, refused ${alarm.refused}; serial drops ${JSON.stringify(bridge.stats().devices.mcu?.drops)}`)
  } finally {
    await watcher.endAsync().catch(() => {})
    await Promise.all(agents.map((a) => a.stop().catch(() => {})))
    await gateway.close()
    await bridge.close()
    await mcu.stop()
    await pty.stop()
    await broker.close()
  }
})

test.run()
