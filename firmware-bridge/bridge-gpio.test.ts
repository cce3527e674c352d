/**
 * GPIO inputs and guarded outputs through the bridge, over a real aedes
 * broker, on the in-memory GPIO twin (this kernel has no GPIO support; see
 * gpio/gpiod-tools-chip.test.ts for the command-line path).
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { collect, plainClient } from '../test/support/mqtt-clients.ts'
import { testBroker } from '../test/support/test-broker.ts'
import { waitFor } from '../test/support/wait.ts'
import { Bridge } from './bridge.ts'
import { parseConfig } from './config.ts'
import { MemoryChip } from './gpio/memory-chip.ts'

const b64 = (s: string) => Buffer.from(s).toString('base64')

test('debounced inputs become readings; outputs obey allowed values, duplicates, the rate limit and the watchdog', async () => {
  const broker = await testBroker()
  const chip = new MemoryChip({ 1: 0 })
  const config = parseConfig({
    name: 'gp',
    limits: { statsIntervalMs: 0 },
    gpio: { driver: 'memory', inputs: [{ name: 'button', line: 1, debounceMs: 15 }], outputs: [{ name: 'led', line: 2 }] },
    actuators: [{ name: 'led', gpio: 'led', allowed: [0, 1], rateLimit: { perSecond: 5, burst: 1 }, watchdogMs: 500, safe: 0 }],
  })
  const bridge = await Bridge.start({ broker: broker.url, config, gpioChip: chip })
  const c = await plainClient(broker.url)
  const got = collect(c)
  await c.subscribeAsync(['fm/v1/bridge/gp/readings/#', 'fm/v1/bridge/gp/state/#', 'fm/v1/bridge/gp/events'])
  const send = (p: unknown) => c.publishAsync('fm/v1/bridge/gp/commands/led', typeof p === 'string' ? p : JSON.stringify(p), { qos: 1 })
  const led = bridge.actuators.get('led')!
  try {
    // a press that bounces 5 times is one reading
    for (const v of [1, 0, 1, 0, 1] as const) chip.drive(1, v)
    const presses = () => got.filter((m) => m.topic === 'fm/v1/bridge/gp/readings/gpio/button').map((m) => JSON.parse(String(m.payload)))
    await waitFor(() => presses().length === 1, 10_000, 'one button reading')
    assert.is(presses()[0].value, 1)
    assert.is(bridge.stats().gpioBounces, 4)
    chip.drive(1, 0)
    await waitFor(() => presses().length === 2, 10_000, 'the release')
    assert.is(presses()[1].value, 0)

    // allowed values
    await send('1')
    await waitFor(() => chip.level(2) === 1, 10_000, 'led on')
    await send('2')
    await waitFor(() => led.stats.refused === 1, 10_000, 'the refusal of 2')
    assert.ok(got.some((m) => m.topic === 'fm/v1/bridge/gp/events' && JSON.parse(String(m.payload)).reason === 'not_allowed'))

    // over the rate limit nothing is lost: the latest wanted value is applied when the bucket allows
    const applied = led.stats.applied
    for (const v of [0, 1, 0, 1, 0]) await send(String(v))
    await waitFor(() => led.stats.applied >= applied + 1 && chip.level(2) === 0 && led.stats.coalesced >= 1, 3000, 'the last value applied')
    await new Promise((r) => setTimeout(r, 300))
    assert.is(chip.level(2), 0)
    assert.ok(led.stats.applied - applied <= 2, `coalesced: ${led.stats.applied - applied} applications for 5 commands`)

    // a stream result drives the output; a repeated window sequence is a duplicate
    await new Promise((r) => setTimeout(r, 250))
    await send({ id: 'stream-1', status: 'ok', seq: 9, output: b64('1\n') })
    await waitFor(() => chip.level(2) === 1, 10_000, 'led on from a stream result')
    await send({ id: 'stream-1', status: 'ok', seq: 9, output: b64('0\n') })
    await waitFor(() => led.stats.refused === 2, 10_000, 'the duplicate refused')
    assert.is(chip.level(2), 1)
    await send({ id: 'stream-1', status: 'error', error: { code: 'trap', message: 'boom' } })
    await waitFor(() => led.stats.refused === 3, 10_000, 'the error result refused')

    // results stop: the watchdog goes to the safe value
    const t0 = performance.now()
    await waitFor(() => chip.level(2) === 0, 3000, 'the watchdog')
    assert.ok(performance.now() - t0 > 300, 'not before the watchdog period')
    const states = () => got.filter((m) => m.topic === 'fm/v1/bridge/gp/state/led').map((m) => JSON.parse(String(m.payload)))
    await waitFor(() => states().at(-1)?.source === 'watchdog', 10_000, 'state: watchdog')
    await waitFor(() => got.some((m) => m.topic === 'fm/v1/bridge/gp/events' && JSON.parse(String(m.payload)).type === 'watchdog'), 10_000, 'the watchdog event')
    await send('1')
    await waitFor(() => chip.level(2) === 1, 10_000, 'led on again')
  } finally {
    await bridge.close()
    await c.endAsync()
    await broker.close()
  }
  // closing leaves the actuator at its safe value
  assert.is(chip.level(2), 0)
  assert.is(chip.history(2).at(-1), 0)
})

test.run()
