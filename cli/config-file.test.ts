// `--config FILE`: camelCase keys for the command's flags, flags win, bad keys and types named.
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { tmpDir } from '../test/support/temp-dirs.ts'
import type { Options } from './command.ts'
import { withConfigFile } from './config-file.ts'

const options: Options = { broker: { type: 'string' }, name: { type: 'string' }, 'heartbeat-ms': { type: 'string' }, labels: { type: 'string' }, 'no-telemetry': { type: 'boolean' }, config: { type: 'string' } }
const file = (o: unknown) => {
  const p = join(tmpDir(), 'c.json')
  writeFileSync(p, typeof o === 'string' ? o : JSON.stringify(o))
  return p
}
const message = (fn: () => unknown) => {
  try {
    fn()
  } catch (err) {
    return (err as Error).message
  }
  throw new Error('accepted')
}

test('the file fills in what the flags do not give; a flag overrides it', () => {
  const config = file({ $comment: 'x', broker: 'mqtt://a:1883', heartbeatMs: 500, labels: { site: 'd3', row: 2 }, noTelemetry: true, name: null })
  assert.equal(withConfigFile({ config, broker: 'mqtt://b:1883', 'heartbeat-ms': undefined }, options), {
    broker: 'mqtt://b:1883', 'heartbeat-ms': '500', labels: 'site=d3,row=2', 'no-telemetry': true,
  })
  assert.equal(withConfigFile({ broker: 'mqtt://b' }, options), { broker: 'mqtt://b' }, 'no --config: untouched')
})

test('refused with the key named: unknown keys, wrong types, not JSON, not an object, missing file', () => {
  assert.match(message(() => withConfigFile({ config: file({ brokr: 'x' }) }, options)), /unknown key "brokr" \(known: broker, name, heartbeatMs, labels, noTelemetry\)/)
  assert.match(message(() => withConfigFile({ config: file({ noTelemetry: 'yes' }) }, options)), /"noTelemetry" must be true or false/)
  assert.match(message(() => withConfigFile({ config: file({ broker: ['a'] }) }, options)), /"broker" must be a string or a number/)
  assert.match(message(() => withConfigFile({ config: file('{"broker": ') }, options)), /is not valid JSON/)
  assert.match(message(() => withConfigFile({ config: file('[1]') }, options)), /must be a JSON object/)
  assert.match(message(() => withConfigFile({ config: '/nonexistent/agent.json' }, options)), /^cannot read config \/nonexistent\/agent\.json: ENOENT$/)
})

test.run()
