/**
 * Offer pre-selection with real parts (market/preselect.ts): real agents on
 * the embedded aedes over TCP, a requester that offers to k = 2 of them. A
 * watcher on the broker sees every offer: each job's offer goes to exactly
 * the two chosen agents' own topics (never the broadcast one), only they
 * bid, and the job runs on one of them and verifies.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { verifyResult } from '../protocol/signature.ts'
import { echo } from './fixtures/engine/modules.ts'
import { collect, closeClient, plainClient } from './support/mqtt-clients.ts'
import { startMesh } from './support/mesh.ts'
import { waitFor } from './support/wait.ts'

test('a job is offered only to the k chosen agents and still runs, signed and verified', async () => {
  const mesh = await startMesh({ agents: 5, requester: { preselect: { k: 2, explore: 0 } } })
  const watcher = await plainClient(mesh.broker.url)
  try {
    const seen = collect(watcher)
    await watcher.subscribeAsync(['fm/v1/market/offers', 'fm/v1/agents/+/offers'], { qos: 0 })
    const module = await mesh.publish(echo().bytes)
    for (const a of mesh.agents) assert.ok(mesh.requester.directory.get(a.id)?.presence.directOffers, `${a.name} says directOffers in its signed presence`)
    const jobs = ['pre-1', 'pre-2', 'pre-3']
    for (const [i, id] of jobs.entries()) {
      const bidsBefore = mesh.agents.map((a) => a.stats().bids)
      // a distinct maxPrice per job: a lease group of its own, so every job is auctioned
      const r = await mesh.requester.submit({ id, module, input: Buffer.from(`hello ${id}`), maxPrice: 100 + i })
      assert.is(r.status, 'ok', JSON.stringify(r.error))
      assert.is(r.output?.toString(), `hello ${id}`)
      const agent = mesh.agents.find((a) => a.id === r.agent)!
      assert.ok(verifyResult({ ...r, agent: r.agent!, signature: r.signature! }, agent.publicKey))
      await waitFor(() => seen.length >= 2 * (i + 1), 5000, 'the offers seen by the watcher')
      const offers = seen.slice(2 * i).map((m) => ({ topic: m.topic, offerId: (JSON.parse(m.payload.toString()) as { offerId: string }).offerId }))
      assert.is(offers.length, 2, `job ${id}: two offers`)
      assert.is(new Set(offers.map((o) => o.offerId)).size, 1, 'one offer, twice addressed')
      const chosen = offers.map((o) => /^fm\/v1\/agents\/([^/]+)\/offers$/.exec(o.topic)?.[1])
      assert.ok(chosen.every((c) => c !== undefined), `job ${id}: only per-agent offer topics, never fm/v1/market/offers (${offers.map((o) => o.topic)})`)
      assert.ok(chosen.includes(r.agent!), `job ${id} ran on a chosen agent`)
      const bidders = mesh.agents.filter((a, k) => a.stats().bids > bidsBefore[k]!).map((a) => a.id)
      assert.equal(bidders.sort(), (chosen as string[]).sort(), `job ${id}: only the chosen bid`)
    }
  } finally {
    await closeClient(watcher)
    await mesh.close()
  }
})

test.run()
