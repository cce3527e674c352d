/**
 * The payer on the in-memory chain: a channel per agent, opened on first use and topped up,
 * never beyond the budget; one cumulative voucher per event-loop turn whose root commits to the
 * results paid; vouchers the agent's side (the contract's rules) accepts; refusals as events.
 * Fast: no anvil and no broker (vouchers are captured where they would be published).
 *
 *   node --import tsx market/payer.test.ts
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { computeAddress } from 'ethers'
import { devAccounts } from '../contracts/anvil.ts'
import { InMemoryChain } from '../contracts/in-memory-chain.ts'
import { ManualClock } from '../protocol/manual-clock.ts'
import { ValidationError } from '../protocol/errors.ts'
import { wireVoucherSchema, type WireVoucher } from '../protocol/messages.ts'
import { ResultsTree, resultLeaf } from '../protocol/results-tree.ts'
import { topics } from '../protocol/topics.ts'
import { decodeJson } from '../protocol/validate.ts'
import { verifyVoucher } from '../protocol/voucher.ts'
import { Payer, payerOptions, type PayerOptions } from './payer.ts'

const [rKey, aKey, bKey] = devAccounts(3) as [string, string, string]
const R = computeAddress(rKey)
const AGENT_A = { id: 'agent-a', payee: computeAddress(aKey) }
const AGENT_B = { id: 'agent-b', payee: computeAddress(bKey) }

function setup(opts: Partial<PayerOptions> = {}) {
  const chain = new InMemoryChain({ clock: new ManualClock(1_700_000_000_000) })
  chain.mint(R, 1_000_000n)
  const client = chain.channels(R)
  const sent: Array<{ topic: string; message: WireVoucher }> = []
  const conn = {
    publish(topic: string, payload: Buffer | string) {
      const d = decodeJson(Buffer.from(payload), wireVoucherSchema, 1 << 20)
      if (!d.ok) throw d.error
      sent.push({ topic, message: d.value })
    },
  }
  const payer = new Payer(conn, 'req-1', 'fm/v1/requesters/req-1/inbox', { client, privateKey: rKey, budget: 1_000n, deposit: 100n, ...opts })
  const refused: string[] = []
  payer.on('refused', (r) => refused.push(`${r.agent}: ${r.reason}`))
  const terms = (agent: { payee: string }) => ({ chainId: Number(chain.chainId), channels: client.address, payee: agent.payee })
  const job = (i: number) => ({ id: `job-${i}`, outputSha256: i.toString(16).padStart(64, '0'), fuel: 1000 + i })
  return { chain, client, payer, sent, refused, terms, job }
}

const settle = () => new Promise((r) => setTimeout(r, 5))

test('first result opens a channel; results of one turn share one voucher the contract would accept', async () => {
  const { chain, client, payer, sent, terms, job } = setup()
  assert.ok(payer.accepts(terms(AGENT_A)))
  assert.not.ok(payer.accepts({ ...terms(AGENT_A), chainId: 1 }), 'another chain')
  const t0 = chain.timestamp
  for (let i = 0; i < 3; i++) payer.pay(AGENT_A.id, terms(AGENT_A), job(i), 10n)
  await settle()
  assert.is(sent.length, 1, 'one voucher for the three results of that turn')
  const { topic, message: m } = sent[0]!
  assert.is(topic, topics.agentVouchers(AGENT_A.id))
  assert.equal([m.channelId, m.cumulativeAmount, m.jobCount], ['1', '30', '3'])
  assert.equal(m.leaves.map((l) => l.jobId), ['job-0', 'job-1', 'job-2'])
  const tree = ResultsTree.from([0, 1, 2].map((i) => resultLeaf({ jobId: job(i).id, outputSha256: job(i).outputSha256, fuel: job(i).fuel })))
  assert.is(m.resultsRoot, tree.root)
  const channel = await client.getChannel(1n)
  assert.equal([channel.requester, channel.payee, channel.deposit], [R, AGENT_A.payee, 100n])
  assert.is(channel.expiry, t0 + 86_400n, 'the chain\'s time + expirySeconds (default 1 day)')
  const v = { channelId: 1n, cumulativeAmount: 30n, resultsRoot: m.resultsRoot, jobCount: 3n }
  assert.ok(verifyVoucher(v, m.signature, { hasher: client.hasher, requester: R, channelId: 1n, deposit: 100n }).ok)
  // and the agent can settle it on the chain
  const { amount } = await chain.channels(AGENT_A.payee).settle(v, m.signature)
  assert.is(amount, 30n)
})

test('the deposit grows by top-ups as results come, never past the budget', async () => {
  const { client, payer, sent, refused, terms, job } = setup({ budget: 250n, deposit: 100n })
  for (let i = 0; i < 12; i++) payer.pay(AGENT_A.id, terms(AGENT_A), job(i), 10n) // 120 > the first deposit
  await settle()
  await settle()
  assert.is((await client.getChannel(1n)).deposit, 200n, 'opened with 100, topped up by 100')
  const last = sent.at(-1)!.message
  assert.is(last.cumulativeAmount, '120', 'the voucher waited for the top-up: never beyond the deposit')
  for (let i = 12; i < 30; i++) payer.pay(AGENT_A.id, terms(AGENT_A), job(i), 10n) // 300 > the budget of 250
  await settle()
  await settle()
  assert.equal(refused, [`${AGENT_A.id}: budget of 250 exhausted`])
  assert.is(payer.stats().locked, 200n)
  assert.ok(BigInt(sent.at(-1)!.message.cumulativeAmount) <= 200n)
})

test('each agent its own channel; acknowledgements and drain', async () => {
  const { payer, sent, terms, job } = setup()
  payer.pay(AGENT_A.id, terms(AGENT_A), job(1), 5n)
  payer.pay(AGENT_B.id, terms(AGENT_B), job(2), 7n)
  await settle()
  assert.equal(sent.map((s) => [s.topic, s.message.channelId]).sort(), [[topics.agentVouchers(AGENT_A.id), '1'], [topics.agentVouchers(AGENT_B.id), '2']].sort())
  assert.is(await payer.drain(50), false, 'nothing acknowledged yet')
  payer.onAck({ type: 'voucherAck', agent: AGENT_A.id, channelId: '1', cumulativeAmount: '5', ok: 1 })
  payer.onAck({ type: 'voucherAck', agent: AGENT_B.id, channelId: '2', cumulativeAmount: '7', ok: 1 })
  assert.is(await payer.drain(1000), true)
  assert.equal(payer.stats(), { channels: 2, locked: 200n, owed: 12n, acknowledged: 12n, vouchers: 2 })
})

test('a chain that does not answer: the agent is refused, with the reason, and nothing is locked', async () => {
  const { chain, payer, refused, terms, job } = setup()
  chain.setReachable(false)
  payer.pay(AGENT_A.id, terms(AGENT_A), job(1), 5n)
  await settle()
  assert.is(refused.length, 1)
  assert.match(refused[0]!, /^agent-a: cannot fund the channel: .*the chain does not answer$/)
  assert.is(payer.stats().locked, 0n)
  // one attempt, not a retry loop: the agent stays refused when the chain is back
  chain.setReachable(true)
  payer.pay(AGENT_A.id, terms(AGENT_A), job(2), 5n)
  await settle()
  assert.is(chain.nonceOf(R), 0, 'no transaction was sent')
  assert.is(refused.length, 1)
})

test('options: defaults merged once, out-of-range refused naming the field', () => {
  const { client } = setup()
  const base = { client, privateKey: rKey, budget: 10n, deposit: 5n }
  assert.is(payerOptions({ ...base, expirySeconds: undefined }).expirySeconds, 86_400)
  const field = (o: PayerOptions) => {
    try {
      payerOptions(o)
    } catch (e) {
      assert.instance(e, ValidationError)
      return (e as ValidationError).field
    }
    return undefined
  }
  assert.is(field({ ...base, deposit: 0n }), 'payment.deposit')
  assert.is(field({ ...base, budget: -1n }), 'payment.budget')
  assert.is(field({ ...base, expirySeconds: 0 }), 'payment.expirySeconds')
  assert.is(field({ ...base, expirySeconds: 1.5 }), 'payment.expirySeconds')
})

test.run()
