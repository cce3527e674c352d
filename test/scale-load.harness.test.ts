/**
 * The scale harness of bench/scale.bench.ts, small, so CI exercises it: 50
 * simulated agents (real MQTT connections, signed presence, heartbeats, bids
 * and results) against `fogmesh broker` for a few seconds, with a requester
 * that pre-selects k = 8. No timing is asserted (targets live in the bench):
 * what must hold is that offers went to 8 agents, not 50, that every
 * auctioned and leased job was answered, and that agents dropping their
 * link and joining while jobs run lose no job.
 * (Named `*-load.*`: test/run.js runs it last and alone.)
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { runScale } from '../bench/scale/harness.ts'

test('50 simulated agents: offers to k of them, every job answered, none lost while agents churn', async () => {
  const f = await runScale({ agents: 50, auctions: 15, jobs: 150, concurrency: 16, churnSeconds: 3, churnPerSecond: 2, idleMs: 1000 })
  assert.is(f.brokers, 1)
  assert.is(f.offersPerAuction, 8, 'each auction offered to k = 8 agents')
  assert.ok(f.messagesPerJob < 50, `messages per auctioned job stay O(k), not O(agents): ${f.messagesPerJob.toFixed(1)}`)
  assert.ok(f.messagesPerLeasedJob < 8, `a leased job costs a handful of messages: ${f.messagesPerLeasedJob.toFixed(1)}`)
  assert.ok(f.jobsPerSecond > 0)
  assert.ok(f.idleRssBytes > 0 && Number.isFinite(f.idleCpuUsPerAgentSecond))
  const c = f.churn
  assert.ok(c.left >= 4 && c.joined >= 4, `agents left (${c.left}) and joined (${c.joined}) while jobs ran`)
  assert.ok(c.acknowledged > 0)
  assert.is(c.lost, 0, `${c.acknowledged} acknowledged, ${c.answered} answered, ${c.failed} failed`)
})

test.run()
