/**
 * 1,000 forged vouchers to an agent's payment intake (issue 9): all refused,
 * in well under a second, with chain look-ups bounded by the gate's rate (not
 * one each); and vouchers of a known channel are checked against the cached
 * channel state, rate limited per channel. On the in-memory chain twin.
 */
import { randomBytes } from 'node:crypto'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { computeAddress } from 'ethers'
import { devAccounts } from '../contracts/anvil.ts'
import type { ChannelsClient } from '../contracts/channels/channels-client.ts'
import { InMemoryChain } from '../contracts/in-memory-chain.ts'
import { ResultsTree } from '../protocol/results-tree.ts'
import { tmpDir } from '../test/support/temp-dirs.ts'
import { PaymentIntake } from './payment-intake.ts'
import { VoucherGate } from './voucher-gate.ts'
import { Wallet } from 'ethers'

const [rKey, aKey] = devAccounts(2) as [string, string]

async function intake() {
  const chain = new InMemoryChain()
  chain.mint(computeAddress(rKey), 10n ** 18n)
  const requester = chain.channels(computeAddress(rKey))
  const agent = chain.channels(computeAddress(aKey))
  const { channelId } = await requester.openChannel({ payee: computeAddress(aKey), amount: 1000n, expiry: (await requester.chainTime()) + 86_400n })
  let lookups = 0
  const getChannel = agent.getChannel.bind(agent)
  agent.getChannel = (id) => {
    lookups++
    return getChannel(id)
  }
  const p = await PaymentIntake.open(tmpDir('fm-gate-'), { client: agent as unknown as ChannelsClient, wallet: new Wallet(aKey), policy: { everyJobs: 1_000_000, everyMs: 3_600_000 } })
  return { p, channelId, lookups: () => lookups }
}

const forged = (channelId: bigint | string) => ({
  requester: 'forger', replyTo: 'forger/inbox', channelId: String(channelId), cumulativeAmount: '1', jobCount: '0',
  resultsRoot: ResultsTree.from([]).root, signature: `0x${randomBytes(65).toString('hex')}`, leaves: [],
})

test('1,000 forged vouchers on made-up channels: all refused, chain look-ups bounded by the gate', async () => {
  const { p, lookups } = await intake()
  try {
    const t0 = performance.now()
    const verdicts = await Promise.all(Array.from({ length: 1000 }, () => p.receive(forged(BigInt(`0x${randomBytes(8).toString('hex')}`)))))
    const ms = performance.now() - t0
    assert.ok(verdicts.every((v) => !v.ok), 'all refused')
    assert.ok(lookups() <= 40, `${lookups()} chain look-ups for 1,000 vouchers`)
    console.log(`  1,000 forged vouchers: refused in ${ms.toFixed(0)} ms with ${lookups()} chain look-ups; ${JSON.stringify(p.gate.stats().refused)}`)
  } finally {
    await p.close()
  }
})

test('forged vouchers on a real channel: checked against the cached channel (one look-up), rate limited per channel', async () => {
  const { p, channelId, lookups } = await intake()
  try {
    const verdicts = await Promise.all(Array.from({ length: 1000 }, () => p.receive(forged(channelId))))
    assert.ok(verdicts.every((v) => !v.ok), 'bad signatures refused')
    assert.ok(lookups() <= 2, `${lookups()} look-ups`)
    const rateLimited = verdicts.filter((v) => !v.ok && v.reason === 'RateLimited').length
    assert.ok(rateLimited >= 800, `${rateLimited} refused by the per-channel rate before any check`)
  } finally {
    await p.close()
  }
})

test('the gate: a channel the chain says is not ours is refused without a look-up until its time is up; pending bounded', () => {
  let now = 0
  const g = new VoucherGate({ maxPending: 2, perChannelPerSecond: 100, lookupsPerSecond: 100, badChannelsKept: 100, badChannelTtlMs: 1000 }, () => now)
  const a = g.admit('c1')
  assert.ok(a.ok)
  g.learned('c1', false)
  assert.equal(g.admit('c1'), { ok: false, reason: 'NotPayee' })
  const b = g.admit('c2')
  assert.ok(b.ok)
  assert.equal(g.admit('c3'), { ok: false, reason: 'Busy' })
  if (a.ok) a.release()
  const c = g.admit('c3')
  assert.ok(c.ok)
  if (b.ok) b.release()
  if (c.ok) c.release()
  now = 500
  assert.equal(g.admit('c1'), { ok: false, reason: 'NotPayee' }, 'still remembered')
  now = 2000
  assert.ok(g.admit('c1').ok, 'after its time it may be looked up again')
})

test.run()
