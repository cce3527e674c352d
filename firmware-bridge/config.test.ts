/**
 * The config boundary (errors name the field) and `fogmesh bridge` as a user
 * runs it: --help, one-line usage errors with exit 2, and a real run against a
 * pty with the simulated MCU until Ctrl-C.
 */
import { spawn, spawnSync } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { collect, plainClient } from '../test/support/mqtt-clients.ts'
import { testNeeding } from '../test/support/programs.ts'
import { tmpDir } from '../test/support/temp-dirs.ts'
import { testBroker } from '../test/support/test-broker.ts'
import { waitFor } from '../test/support/wait.ts'
import { LIMIT_DEFAULTS, parseConfig, parseConfigText } from './config.ts'
import { startMcu } from './sim/mcu-process.ts'
import { startPtyPair } from './sim/pty-pair.ts'

const refused = (raw: unknown) => {
  try {
    parseConfig(raw)
  } catch (e) {
    return (e as Error).message
  }
  return 'accepted'
}

test('the example config is valid; defaults are filled in, limits merged per device', () => {
  const c = parseConfigText(readFileSync(new URL('./examples/bridge.json', import.meta.url), 'utf8'))
  assert.is(c.topicPrefix, 'fm/v1/bridge/greenhouse-1')
  assert.is(c.serial[1]!.baudRate, 9600)
  assert.equal(c.serial[0]!.framing, { type: 'line' })
  assert.equal(c.serial[1]!.protocol, { type: 'nmea', requireChecksum: true })
  assert.is(c.serial[0]!.limits.maxPendingRequests, LIMIT_DEFAULTS.maxPendingRequests)
  const d = parseConfig({ name: 'x', limits: { maxFrameBytes: 64 }, serial: [{ name: 'a', path: '/dev/x', framing: { type: 'delimiter', hex: '0d0a' }, limits: { requestTimeoutMs: 50 } }] })
  assert.equal(d.serial[0]!.framing, { type: 'delimiter', delimiter: Buffer.from('\r\n') })
  assert.is(d.serial[0]!.limits.maxFrameBytes, 64)
  assert.is(d.serial[0]!.limits.requestTimeoutMs, 50)
})

test('every error names its field', () => {
  const base = { name: 'x' }
  assert.match(refused({}), /^name: expected/)
  assert.match(refused({ ...base, limts: {} }), /^limts: expected a known field \(one of: name, topicPrefix/)
  assert.match(refused({ ...base, limits: { maxFrameBytes: 1 } }), /^limits\.maxFrameBytes: expected at least 16/)
  assert.match(refused({ ...base, limits: { maxFrames: 1 } }), /^limits\.maxFrames: expected/)
  assert.match(refused({ ...base, serial: [{ name: 'a', path: '/x', framing: { type: 'fixed' } }] }), /^serial\[0\]\.framing\.length: expected/)
  assert.match(refused({ ...base, serial: [{ name: 'a', path: '/x', protocol: { type: 'binary', fields: [{ name: 't', type: 'i24' }] } }] }), /^serial\[0\]\.protocol\.fields\[0\]\.type: expected/)
  assert.match(refused({ ...base, serial: [{ name: 'a', path: '/x', framing: { type: 'fixed', length: 3 }, protocol: { type: 'binary', fields: [{ name: 't', type: 'i16le' }] } }] }), /^serial\[0\]\.framing\.length: expected the binary fields' size \(2 bytes\)/)
  assert.match(refused({ ...base, serial: [{ name: 'a', path: '/x' }, { name: 'a', path: '/y' }] }), /^serial\[1\]\.name/)
  assert.match(refused({ ...base, actuators: [{ name: 'v', gpio: 'nope', allowed: [0, 1], safe: 0 }] }), /^actuators\[0\]\.gpio: expected the name of a gpio output/)
  const gpio = { driver: 'memory', outputs: [{ name: 'o', line: 1 }] }
  assert.match(refused({ ...base, gpio, actuators: [{ name: 'v', gpio: 'o', allowed: [0, 2], safe: 0 }] }), /^actuators\[0\]\.allowed: expected GPIO levels/)
  assert.match(refused({ ...base, gpio, actuators: [{ name: 'v', gpio: 'o', allowed: [0, 1], safe: 5 }] }), /^actuators\[0\]\.safe: expected one of the allowed values/)
  assert.match(refused({ ...base, gpio, actuators: [{ name: 'v', gpio: 'o', allowed: { min: 1, max: 0 }, safe: 0 }] }), /^actuators\[0\]\.allowed\.min/)
  assert.match(refused({ ...base, sparkplug: { group: 'a/b', node: 'n' } }), /^sparkplug\.group: expected/)
  assert.match(refused({ ...base, gpio: { driver: 'sysfs', inputs: [{ name: 'i', line: 1, bias: 'pull-up' }] } }), /^gpio\.inputs\.bias/)
  assert.throws(() => parseConfigText('{"name":'), /config is not valid JSON/)
})

const cli = (args: string[]) => spawnSync(process.execPath, ['bin/fogmesh.js', 'bridge', ...args], { encoding: 'utf8', timeout: 30_000 })

test('fogmesh bridge: --help, and user errors as one line with exit 2', () => {
  const help = cli(['--help'])
  assert.is(help.status, 0)
  assert.match(help.stdout, /usage: fogmesh bridge --broker URL --config FILE/)
  const none = cli(['--broker', 'mqtt://127.0.0.1:1'])
  assert.is(none.status, 2)
  assert.equal(none.stderr.trim().split('\n'), ['fogmesh: --config is required: the bridge config file (see firmware-bridge/examples/bridge.json)'])
  const dir = tmpDir('fm-bridge-cli-')
  const bad = join(dir, 'bad.json')
  writeFileSync(bad, JSON.stringify({ name: 'x', serial: [{ name: 'a', path: '/x', baudRate: 7 }] }))
  const r = cli(['--broker', 'mqtt://127.0.0.1:1', '--config', bad])
  assert.is(r.status, 2)
  assert.equal(r.stderr.trim().split('\n'), [`fogmesh: ${bad}: serial[0].baudRate: expected an integer in 50..4000000`])
  const missing = cli(['--broker', 'mqtt://127.0.0.1:1', '--config', join(dir, 'nope.json')])
  assert.is(missing.status, 2)
  assert.match(missing.stderr, /cannot read --config .*nope\.json: ENOENT/)
})

testNeeding(test, 'socat')('fogmesh bridge runs a config until Ctrl-C, then leaves its actuators safe', async () => {
  const broker = await testBroker()
  const dir = tmpDir('fm-bridge-run-')
  const pty = await startPtyPair(dir)
  const mcu = startMcu(pty.device, { intervalMs: 200 })
  const file = join(dir, 'bridge.json')
  writeFileSync(
    file,
    JSON.stringify({
      name: 'demo',
      serial: [{ name: 'mcu', path: pty.bridge, sensors: { temp: { unit: 'C' } } }],
      gpio: { driver: 'memory', outputs: [{ name: 'relay', line: 4 }] },
      actuators: [
        { name: 'fan', serial: { device: 'mcu' }, allowed: [0, 1], safe: 0 },
        { name: 'vent', gpio: 'relay', allowed: [0, 1], safe: 0, watchdogMs: 60000 },
      ],
    }),
  )
  const sub = await plainClient(broker.url)
  const got = collect(sub)
  await sub.subscribeAsync('fm/v1/bridge/demo/#')
  const child = spawn(process.execPath, ['bin/fogmesh.js', 'bridge', '--broker', broker.url, '--config', file], { stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  child.stdout.on('data', (d) => (out += d))
  child.stderr.on('data', (d) => (out += d))
  try {
    await waitFor(() => /reading {3}mcu\/temp = /.test(out), 15_000, 'a reading line')
    sub.publish('fm/v1/bridge/demo/commands/fan', '1')
    await mcu.waitFor((r) => r.event === 'set' && r.name === 'fan' && r.v === 1, 5000, 'fan on')
    await waitFor(() => /actuator {2}fan applied 1 \(command\)/.test(out), 5000, 'the applied line')
    child.kill('SIGINT')
    const code = await new Promise((r) => child.once('exit', r))
    assert.is(code, 0, out)
    await mcu.waitFor((r) => r.event === 'set' && r.name === 'fan' && r.v === 0, 5000, 'fan back to safe on shutdown')
    assert.match(out, /^bridge {4}demo on mqtt:\/\/127\.0\.0\.1:\d+: 1 serial device\(s\), 1 GPIO line\(s\), 2 actuator\(s\)$/m)
    assert.match(out, /SIGINT: actuators to safe values, shutting down/)
    await waitFor(() => got.some((m) => m.topic === 'fm/v1/bridge/demo/status' && JSON.parse(String(m.payload)).online === false), 5000, 'status offline')
    if (process.env.FM_PRINT_OUTPUT) process.stdout.write(out)
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL')
    await mcu.stop()
    await pty.stop()
    await sub.endAsync()
    await broker.close()
  }
})

test.run()
