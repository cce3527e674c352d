/**
 * A site's Mosquitto bridged to a regional Mosquitto (Debian's, both started here on free
 * ports): the agents at the site, the gateway and the sensor at the region; jobs flow over
 * the bridge, presences (retained) reach the region. The bridge's lines are the ones the
 * README's Clustering section gives.
 *   node --import tsx test/mosquitto-bridge.test.ts
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { startAgent, type Agent } from '../agent/agent.ts'
import { startGateway } from '../market/gateway.ts'
import { startMosquitto } from './support/mosquitto.ts'
import { closeClient, collect, plainClient } from './support/mqtt-clients.ts'
import { ROOT } from './support/paths.ts'
import { requireProgram, testNeeding } from './support/programs.ts'
import { tmpDir } from './support/temp-dirs.ts'
import { waitFor } from './support/wait.ts'

const ECHO = readFileSync(join(ROOT, 'wasm-modules/dist/echo.wasm'))

/** The site's bridge to the region: the mesh's topics both ways at QoS 1, a persistent bridge session. */
export const bridgeConfig = (regionPort: number) => `connection region
address 127.0.0.1:${regionPort}
topic fm/v1/# both 1
cleansession false
bridge_protocol_version mqttv311
try_private true
set_tcp_nodelay true
`

testNeeding(test, 'mosquitto')('site Mosquitto bridged to a regional one: agents at the site, gateway and sensor at the region, jobs answered', async () => {
  const bin = requireProgram('mosquitto')
  const region = await startMosquitto(bin, 'set_tcp_nodelay true\n')
  const site = await startMosquitto(bin, `set_tcp_nodelay true\n${bridgeConfig(region.port)}`)
  const agents: Agent[] = []
  let gateway: Awaited<ReturnType<typeof startGateway>> | undefined
  const sensor = await plainClient(region.url)
  try {
    for (let i = 0; i < 2; i++) agents.push(await startAgent({ broker: site.url, dataDir: tmpDir('fm-agent-'), name: `site${i}`, slots: 2, acceptFrom: 'any' })) // an open test mesh: signed work from any requester
    gateway = await startGateway({ broker: region.url })
    await gateway.requester.directory.waitFor(2, 15_000) // the site's presences, over the bridge
    const module = await gateway.requester.publishModule(ECHO) // retained at the region; fetched by the site's agents over the bridge
    const replies = collect(sensor)
    await sensor.subscribeAsync('region/replies', { qos: 1 })
    const N = 8
    for (let i = 0; i < N; i++) {
      await sensor.publishAsync('fm/v1/jobs/submit', JSON.stringify({ id: `b${i}`, module, input: Buffer.from(`in ${i}`).toString('base64'), replyTo: 'region/replies' }), { qos: 1 })
    }
    await waitFor(() => replies.length >= N || undefined, 30_000, `${N} answers over the bridge`)
    const answers = replies.map((r) => JSON.parse(r.payload.toString()) as { status: string; agent: string; output: string; id: string })
    console.log(`bridge: ${answers.filter((a) => a.status === 'ok').length}/${N} ok, Mosquitto ${region.version}`)
    assert.ok(answers.every((a) => a.status === 'ok'), JSON.stringify(answers[0]))
    assert.ok(answers.every((a) => agents.some((x) => x.id === a.agent)), 'run by the site\'s agents')
    assert.is(Buffer.from(answers.find((a) => a.id === 'b3')!.output, 'base64').toString(), 'in 3')
  } finally {
    await closeClient(sensor)
    await gateway?.close()
    await Promise.all(agents.map((a) => a.close({ graceMs: 200 })))
    await site.stop()
    await region.stop()
  }
})

test.run()
