/**
 * Paying for work, end to end on a real chain (anvil): a sensor's jobs go
 * through the gateway, which pays each agent through a channel with a
 * cumulative voucher per accepted result; agents journal the vouchers and
 * settle; the chain shows each job paid once, and any result can be proven
 * part of a paid batch.
 */
import { createHash } from 'node:crypto'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { startAgent, type Agent } from '../agent/agent.ts'
import { ChannelsClient } from '../contracts/channels/channels-client.ts'
import { resultLeaf, ResultsTree } from '../protocol/results-tree.ts'
import { balanceOf, startChain, stopChain, type ChainContext } from './support/chain.ts'
import { startGateway } from '../market/gateway.ts'
import { echo } from './fixtures/engine/modules.ts'
import { collect, plainClient } from './support/mqtt-clients.ts'
import { tmpDir } from './support/temp-dirs.ts'
import { testBroker } from './support/test-broker.ts'
import { waitFor } from './support/wait.ts'

const PRICE = 1_000_000_000_000n // 1e-6 MESH per job

test('jobs through the gateway are paid by vouchers and settled on chain, each once', async () => {
  let chain: ChainContext | null = null
  const broker = await testBroker()
  const agents: Agent[] = []
  try {
    chain = await startChain({ accounts: 5 })
    const { wallets, node, mesh } = chain
    for (const i of [2, 3]) {
      const client = await ChannelsClient.connect(mesh.addresses.channels, wallets[i]!)
      agents.push(await startAgent({
        broker: broker.url, dataDir: tmpDir(), name: `paid-${i}`, slots: 1, pricePerJob: Number(PRICE),
        payment: { client, wallet: wallets[i]!, policy: { everyJobs: 1_000_000, everyMs: 3_600_000 } },
      }))
    }
    const requesterClient = await ChannelsClient.connect(mesh.addresses.channels, wallets[1]!)
    const gateway = await startGateway({
      broker: broker.url,
      payment: { client: requesterClient, privateKey: node.accounts[1]!, budget: PRICE * 1000n, deposit: PRICE * 100n },
    })
    try {
      await gateway.requester.directory.waitFor(2, 5000)
      const refusals: string[] = []
      gateway.requester.payer!.on('refused', (r) => refusals.push(r.reason))
      const p = agents[0]!.presence().payment!
      assert.is(p.payee, wallets[2]!.address)
      assert.is(p.channels, mesh.addresses.channels)
      const module = await gateway.requester.publishModule(echo().bytes)
      const sensor = await plainClient(broker.url)
      const got = collect(sensor)
      await sensor.subscribeAsync('paid/out', { qos: 1 })
      const n = 40
      for (let i = 0; i < n; i++) {
        await sensor.publishAsync('fm/v1/jobs/submit', JSON.stringify({ id: `pay-${i}`, module, input: Buffer.from(`reading ${i}`).toString('base64'), replyTo: 'paid/out' }))
      }
      await waitFor(() => got.length >= n, 20_000, `${n} results`)
      const results = got.map((m) => JSON.parse(m.payload.toString()))
      assert.ok(results.every((r) => r.status === 'ok'))
      // every voucher acknowledged = journaled by its agent
      assert.ok(await gateway.requester.payer!.drain(10_000), 'vouchers acknowledged')
      assert.equal(refusals, [])
      const ps = gateway.requester.payer!.stats()
      assert.is(ps.owed, PRICE * BigInt(n))
      assert.is(ps.acknowledged, ps.owed)
      // settle, and the chain agrees job for job
      const before = await Promise.all(agents.map((_, i) => balanceOf(mesh.token, wallets[i + 2]!)))
      const reports = await Promise.all(agents.map((a) => a.settleNow()))
      let paidJobs = 0n
      for (let i = 0; i < agents.length; i++) {
        const jobsByAgent = BigInt(results.filter((r) => r.agent === agents[i]!.id).length)
        const delta = (await balanceOf(mesh.token, wallets[i + 2]!)) - before[i]!
        assert.is(delta, jobsByAgent * PRICE, `agent ${i}: paid for exactly its ${jobsByAgent} jobs`)
        if (jobsByAgent > 0n) assert.is(reports[i]!.jobs, jobsByAgent)
        paidJobs += jobsByAgent
      }
      assert.is(paidJobs, BigInt(n))
      // settling again pays nothing more
      assert.equal(await Promise.all(agents.map((a) => a.settleNow())), [undefined, undefined])
      // a result proven part of the paid batch, on chain
      const r0 = results.find((r) => r.agent === agents[0]!.id)!
      const mine = results.filter((r) => r.agent === agents[0]!.id)
      const leaves = mine.map((r) => resultLeaf({ jobId: r.jobId, outputSha256: r.outputSha256, fuel: r.fuel }))
      // leaves are in the order the requester accepted them; the tree root must match what was settled
      const tree = ResultsTree.from(leaves)
      const settled = reports[0]!
      const events = await mesh.channels.queryFilter(mesh.channels.filters.ChannelSettled!(), 0)
      const ev = events.find((e) => (e as { transactionHash: string }).transactionHash === settled.txHash) as unknown as { args: unknown[] }
      const root = ev.args[2] as string
      assert.is(root, tree.root, 'settled root = root of the results paid')
      const idx = mine.indexOf(r0)
      assert.ok(await mesh.channels.getFunction('verifyResult')(root, tree.proof(idx), leaves[idx]!))
      assert.is(createHash('sha256').update(Buffer.from(r0.output, 'base64')).digest('hex'), r0.outputSha256)
      // the agent builds the results tree itself: a voucher for a result it never returned is refused
      const acks = collect(sensor)
      await sensor.subscribeAsync('rogue/acks', { qos: 1 })
      await sensor.publishAsync(`fm/v1/agents/${agents[0]!.id}/vouchers`, JSON.stringify({
        requester: 'rogue', replyTo: 'rogue/acks', channelId: '1', cumulativeAmount: '1', resultsRoot: `0x${'22'.repeat(32)}`, jobCount: '1',
        signature: `0x${'00'.repeat(65)}`, leaves: [{ jobId: 'never-ran-this', leaf: `0x${'11'.repeat(32)}` }],
      }))
      await waitFor(() => acks.some((a) => a.topic === 'rogue/acks'), 5000, 'the refusal')
      const refusal = JSON.parse(acks.find((a) => a.topic === 'rogue/acks')!.payload.toString())
      assert.equal([refusal.ok, refusal.reason], [0, 'UnknownResult'])
      await sensor.endAsync()
    } finally {
      await gateway.close()
    }
  } finally {
    await Promise.all(agents.map((a) => a.close({ graceMs: 200 })))
    await broker.close()
    await stopChain(chain)
  }
})

test('an agent that takes payment runs work only from requesters with a funded channel to it (and the payer proof that binds their key)', async () => {
  let chain: ChainContext | null = null
  const broker = await testBroker()
  let agent: Agent | undefined
  const requesters: Array<{ close(): Promise<void> }> = []
  try {
    chain = await startChain({ accounts: 5 })
    const { wallets, node, mesh } = chain
    const client = await ChannelsClient.connect(mesh.addresses.channels, wallets[2]!)
    // no --accept-from: only requesters that pay it through a channel
    agent = await startAgent({ broker: broker.url, dataDir: tmpDir(), name: 'paid', slots: 1, pricePerJob: Number(PRICE), payment: { client, wallet: wallets[2]!, policy: { everyJobs: 1_000_000, everyMs: 3_600_000 } } })
    const rejected: string[] = []
    agent.on('rejected', (r) => rejected.push(`${r.code}: ${r.message}`))
    const { startRequester } = await import('../market/requester.ts')
    const free = await startRequester({ broker: broker.url })
    requesters.push(free)
    await free.directory.waitFor(1, 5000)
    const module = await free.publishModule(echo().bytes)
    const unpaid = await free.submit({ module, input: Buffer.from('for free?') })
    assert.is(unpaid.error?.code, 'no_agents', 'a requester that does not pay gets no bid')

    const paying = await startRequester({
      broker: broker.url,
      payment: { client: await ChannelsClient.connect(mesh.addresses.channels, wallets[1]!), privateKey: node.accounts[1]!, budget: PRICE * 100n, deposit: PRICE * 10n },
    })
    requesters.push(paying)
    await paying.directory.waitFor(1, 5000)
    const paid = await paying.submit({ module, input: Buffer.from('paid work') })
    assert.is(paid.status, 'ok', JSON.stringify(paid.error))
    assert.is(paid.output!.toString(), 'paid work')
    assert.is(paying.payer!.stats().channels, 1, 'the channel was opened before the first assignment')

    // someone who knows that channel signs an assignment with a key of its own, claiming it: refused
    const spy = await plainClient(broker.url)
    const captured = collect(spy)
    await spy.subscribeAsync(`fm/v1/agents/${agent.id}/jobs`, { qos: 1 })
    await paying.submit({ module, input: Buffer.from('once more') })
    const real = JSON.parse((await waitFor(() => captured[0], 5000, 'an assignment')).payload.toString())
    const { assignment, ephemeralIdentity } = await import('./support/signed-assign.ts')
    const thief = ephemeralIdentity()
    const forged = assignment(thief, { agent: agent.id, module, now: Date.now(), replyTo: 'thief/inbox' }, { payer: real.payer })
    await spy.publishAsync(`fm/v1/agents/${agent.id}/jobs`, JSON.stringify(forged), { qos: 1 })
    await waitFor(() => rejected.some((r) => r.startsWith('not_accepted')), 5000, 'the refusal')
    assert.match(rejected.find((r) => r.startsWith('not_accepted'))!, /payer proof is signed by 0x[0-9a-fA-F]{40}, not/)
    await spy.endAsync()
  } finally {
    for (const r of requesters) await r.close()
    await agent?.close({ graceMs: 200 })
    await broker.close()
    await stopChain(chain)
  }
})

test.run()
