/**
 * WebAssembly components as jobs, end to end: published like any module,
 * run by a real agent in its executor process, answered on a plain-MQTT replyTo.
 */
import { readFileSync } from 'node:fs'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { collect, plainClient } from './support/mqtt-clients.ts'
import { waitFor } from './support/wait.ts'
import { startMesh } from './support/mesh.ts'

test('a job-world component (csv-to-json) runs on the mesh: ok and err paths, signed results', async () => {
  const mesh = await startMesh({ agents: 1, gateway: true })
  try {
    const bytes = readFileSync(new URL('../wasm-modules/dist/hello-component.wasm', import.meta.url))
    const module = await mesh.publish(bytes)
    const sensor = await plainClient(mesh.broker.url)
    const got = collect(sensor)
    await sensor.subscribeAsync('comp/out', { qos: 1 })
    const submit = async (id: string, input: string) => {
      const before = got.length
      await sensor.publishAsync('fm/v1/jobs/submit', JSON.stringify({ id, module, input: Buffer.from(input).toString('base64'), replyTo: 'comp/out' }))
      await waitFor(() => got.length > before, 15_000, `answer to ${id}`)
      return JSON.parse(got[before]!.payload.toString())
    }
    const ok = await submit('csv-1', 'sensor,temp,unit\nkitchen,21.5,C\nhall,-0.25e1,C\n')
    assert.is(ok.status, 'ok', JSON.stringify(ok.error))
    assert.equal(JSON.parse(Buffer.from(ok.output, 'base64').toString()), [
      { sensor: 'kitchen', temp: 21.5, unit: 'C' },
      { sensor: 'hall', temp: -2.5, unit: 'C' },
    ])
    assert.type(ok.signature, 'string')
    const bad = await submit('csv-2', 'id,name\n1\n')
    assert.is(bad.status, 'error')
    assert.is(bad.error.code, 'exit_nonzero')
    assert.match(bad.error.message, /line 2 has 1 field, the header has 2/)
    await sensor.endAsync()
  } finally {
    await mesh.close()
  }
})

test.run()
