/**
 * Randomized model test of PaymentChannels on a real anvil: OPS random operations (open, top up,
 * settle with good / stale / oversized / lower-job-count vouchers, settleMany, start close,
 * finalize, clock jumps) by 3 requesters and 3 agents. Every operation's outcome (success or the
 * exact custom error) must match a plain TypeScript model, and after every operation:
 *   - paid <= deposit on every channel, and paid and jobCount never decrease;
 *   - the chain's channel state equals the model's;
 *   - tokens are conserved: the contract holds exactly sum(deposit - paid) of the open channels,
 *     every wallet holds its start balance plus what the model says it gained or spent, and the
 *     total supply is unchanged.
 *
 *   node --import tsx contracts/channels/invariants.test.ts          (FM_SEED=<n> to replay a run, FM_OPS=<n>)
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { MaxUint256, keccak256, toBeHex, type Contract } from 'ethers'
import { FastVoucherSigner, type SignedVoucher } from '../../protocol/voucher.ts'
import { balanceOf, decodeRevertName, send, setNextTimestamp, now, tokens, useChain } from '../../test/support/chain.ts'
import { seededRandom } from '../../test/support/rng.ts'

const chain = useChain(test, { deploy: { challengePeriod: 300 } })
const t = chain.test

const OPS = Number(process.env.FM_OPS ?? 200)
const SEED = Number(process.env.FM_SEED ?? Math.floor(Math.random() * 2 ** 31))
const REQUESTERS = [1, 2, 3]
const AGENTS = [4, 5, 6]

interface ModelChannel {
  id: bigint
  requester: number
  payee: number
  deposit: bigint
  paid: bigint
  jobCount: bigint
  expiry: bigint
  closesAt: bigint
  finalized: boolean
}

type Outcome = 'ok' | string

t(`${OPS} random operations keep the invariants (seed ${SEED})`, async () => {
  const { wallets, clients, mesh, provider } = chain.ctx
  const rnd = seededRandom(SEED)
  const period = BigInt(mesh.settings.challengePeriod)
  const token = mesh.token
  const channelsAddress = mesh.addresses.channels
  const signers = new Map(REQUESTERS.map((r) => [r, new FastVoucherSigner(wallets[r]!.privateKey, clients[r]!.hasher)]))
  const people = [...REQUESTERS, ...AGENTS]
  for (const r of REQUESTERS) await send(token.connect(wallets[r]!) as Contract, 'approve', channelsAddress, MaxUint256)

  const start = new Map<number, bigint>()
  for (const p of people) start.set(p, await balanceOf(token, wallets[p]!))
  const supply = (await token.getFunction('totalSupply')()) as bigint
  const delta = new Map<number, bigint>(people.map((p) => [p, 0n]))
  const model: ModelChannel[] = []
  let clock = await now(provider)
  const counts = new Map<string, number>()
  const lastChain = new Map<bigint, { paid: bigint; jobCount: bigint }>()

  const channelsOf = (payee: number) => model.filter((c) => c.payee === payee)
  const settleable = (c: ModelChannel) => !(c.closesAt !== 0n && clock > c.closesAt)
  /** mostly a channel where the operation can succeed, sometimes any channel */
  const pickPreferring = (fits: (c: ModelChannel) => boolean): ModelChannel => {
    const good = model.filter(fits)
    return good.length > 0 && rnd.chance(0.75) ? rnd.pick(good) : rnd.pick(model)
  }
  /** what settle would say about (c, cumulative, jobCount) at time `clock` */
  const settleOutcome = (c: ModelChannel, cum: bigint, jobs: bigint): Outcome => {
    if (c.closesAt !== 0n && clock > c.closesAt) return 'ChannelClosed'
    if (cum <= c.paid) return 'NothingToSettle'
    if (cum > c.deposit) return 'VoucherExceedsDeposit'
    if (jobs < c.jobCount) return 'JobCountDecreased'
    return 'ok'
  }
  /** a voucher that is mostly good, sometimes stale, oversized or with fewer jobs */
  const makeVoucher = (c: ModelChannel): SignedVoucher => {
    const roll = rnd.next()
    let cum: bigint
    let jobs = c.jobCount + BigInt(rnd.int(1, 1000))
    if (roll < 0.12) cum = rnd.big(0n, c.paid) // stale or the same
    else if (roll < 0.22) cum = c.deposit + rnd.big(1n, tokens(5)) // above the deposit
    else cum = c.paid + rnd.big(1n, c.deposit > c.paid ? c.deposit - c.paid : 1n)
    if (rnd.chance(0.08) && c.jobCount > 0n) jobs = c.jobCount - 1n
    const v = { channelId: c.id, cumulativeAmount: cum, jobCount: jobs, resultsRoot: keccak256(toBeHex(cum, 32)) }
    return { ...v, signature: signers.get(c.requester)!.sign(v) }
  }
  const apply = (c: ModelChannel, v: SignedVoucher) => {
    delta.set(c.payee, delta.get(c.payee)! + (v.cumulativeAmount - c.paid))
    c.paid = v.cumulativeAmount
    c.jobCount = v.jobCount
  }

  async function attempt(p: Promise<unknown>): Promise<Outcome> {
    try {
      await p
      return 'ok'
    } catch (e) {
      const name = await decodeRevertName(e)
      if (!name) throw e
      return name
    }
  }

  for (let op = 0; op < OPS; op++) {
    // every operation is one transaction in a block whose timestamp we choose
    clock += rnd.chance(0.1) ? BigInt(rnd.int(200, 1500)) : BigInt(rnd.int(1, 40))
    await setNextTimestamp(provider, clock)
    const kinds = model.length === 0 ? ['open'] : ['open', 'open', 'topUp', 'settle', 'settle', 'settle', 'settle', 'settleMany', 'settleMany', 'startClose', 'finalize']
    const kind = rnd.pick(kinds)
    let expected: Outcome
    let actual: Outcome
    let touched: ModelChannel[] = []

    if (kind === 'open') {
      const r = rnd.pick(REQUESTERS)
      const p = rnd.pick(AGENTS)
      const amount = rnd.big(1n, tokens(50))
      const ttl = BigInt(rnd.int(30, 1500))
      expected = 'ok'
      actual = await attempt(send(mesh.channels.connect(wallets[r]!) as Contract, 'open', wallets[p]!.address, amount, clock + ttl))
      if (actual === 'ok') {
        const c: ModelChannel = { id: BigInt(model.length + 1), requester: r, payee: p, deposit: amount, paid: 0n, jobCount: 0n, expiry: clock + ttl, closesAt: 0n, finalized: false }
        model.push(c)
        delta.set(r, delta.get(r)! - amount)
        touched = [c]
      }
    } else if (kind === 'topUp') {
      const c = rnd.pick(model)
      const amount = rnd.chance(0.2) ? 0n : rnd.big(1n, tokens(20))
      const newExpiry = rnd.chance(0.5) ? c.expiry + BigInt(rnd.int(0, 600)) : 0n
      const extends_ = newExpiry !== 0n && newExpiry > c.expiry
      expected = c.finalized ? 'AlreadyFinalized' : c.closesAt !== 0n ? 'ChannelClosing' : amount === 0n && !extends_ ? 'ZeroAmount' : 'ok'
      actual = await attempt(clients[c.requester]!.topUp(c.id, amount, newExpiry, false))
      if (expected === 'ok' && actual === 'ok') {
        c.deposit += amount
        if (newExpiry !== 0n) c.expiry = newExpiry
        delta.set(c.requester, delta.get(c.requester)! - amount)
      }
      touched = [c]
    } else if (kind === 'settle') {
      const c = pickPreferring(settleable)
      const v = makeVoucher(c)
      expected = settleOutcome(c, v.cumulativeAmount, v.jobCount)
      actual = await attempt(clients[c.payee]!.settle(v, v.signature))
      if (expected === 'ok' && actual === 'ok') apply(c, v)
      touched = [c]
    } else if (kind === 'settleMany') {
      const payee = rnd.pick(AGENTS)
      const all = channelsOf(payee)
      if (all.length === 0) continue
      const open = all.filter(settleable)
      const mine = open.length > 0 && rnd.chance(0.8) ? open : all
      const batch = Array.from({ length: rnd.int(1, Math.min(4, mine.length)) }, () => rnd.pick(mine))
      // the model settles the batch in order on copies; the first failure reverts all of it
      const copies = new Map(batch.map((c) => [c.id, { ...c }]))
      const vouchers: SignedVoucher[] = []
      expected = 'ok'
      for (const c of batch) {
        const copy = copies.get(c.id)!
        const v = makeVoucher(copy)
        vouchers.push(v)
        const o = settleOutcome(copy, v.cumulativeAmount, v.jobCount)
        if (o !== 'ok') {
          expected = o
          break
        }
        copy.paid = v.cumulativeAmount
        copy.jobCount = v.jobCount
      }
      actual = await attempt(clients[payee]!.settleMany(vouchers))
      if (expected === 'ok' && actual === 'ok') {
        for (const [i, c] of batch.entries()) apply(c, vouchers[i]!)
      }
      touched = batch
    } else if (kind === 'startClose') {
      const c = pickPreferring((c) => c.closesAt === 0n && clock >= c.expiry)
      expected = c.closesAt !== 0n ? 'ChannelClosing' : clock < c.expiry ? 'ChannelNotExpired' : 'ok'
      actual = await attempt(clients[c.requester]!.startClose(c.id))
      if (expected === 'ok' && actual === 'ok') c.closesAt = clock + period
      touched = [c]
    } else {
      const c = pickPreferring((c) => !c.finalized && c.closesAt !== 0n)
      expected = c.finalized ? 'AlreadyFinalized' : c.closesAt === 0n ? 'CloseNotStarted' : clock <= c.closesAt ? 'ChallengeWindowOpen' : 'ok'
      actual = await attempt(clients[c.requester]!.finalizeClose(c.id))
      if (expected === 'ok' && actual === 'ok') {
        c.finalized = true
        delta.set(c.requester, delta.get(c.requester)! + (c.deposit - c.paid))
      }
      touched = [c]
    }
    const label = `op ${op} ${kind} (seed ${SEED})`
    assert.is(actual, expected, `${label}: outcome`)
    counts.set(`${kind} ${actual}`, (counts.get(`${kind} ${actual}`) ?? 0) + 1)
    // (a reverted operation mines nothing: its timestamp stays pending and the next one overrides it)

    // ---- invariants ----
    for (const c of touched) {
      const s = await clients[c.payee]!.getChannel(c.id)
      assert.ok(s.paid <= s.deposit, `${label}: paid <= deposit`)
      const prev = lastChain.get(c.id) ?? { paid: 0n, jobCount: 0n }
      assert.ok(s.paid >= prev.paid && s.jobCount >= prev.jobCount, `${label}: paid and jobCount only grow`)
      lastChain.set(c.id, { paid: s.paid, jobCount: s.jobCount })
      assert.equal(
        [s.deposit, s.paid, s.jobCount, s.expiry, s.closesAt, s.finalized],
        [c.deposit, c.paid, c.jobCount, c.expiry, c.closesAt, c.finalized],
        `${label}: chain state == model of channel ${c.id}`,
      )
    }
    if (op % 10 === 9 || op === OPS - 1) {
      const held = model.filter((c) => !c.finalized).reduce((a, c) => a + (c.deposit - c.paid), 0n)
      assert.is(await balanceOf(token, channelsAddress), held, `${label}: contract holds sum(deposit - paid) of open channels`)
      for (const p of people) assert.is(await balanceOf(token, wallets[p]!), start.get(p)! + delta.get(p)!, `${label}: balance of wallet ${p}`)
      assert.is((await token.getFunction('totalSupply')()) as bigint, supply, `${label}: supply unchanged`)
      const totalDelta = [...delta.values()].reduce((a, b) => a + b, 0n)
      assert.is(totalDelta + held, 0n, `${label}: what left the wallets is in the contract`)
    }
  }
  console.log(`  seed ${SEED}: ${model.length} channels; outcomes: ${[...counts.entries()].sort().map(([k, n]) => `${k} ${n}`).join(', ')}`)
  // the run must have exercised the interesting paths, not only failures
  for (const must of ['settle ok', 'settle NothingToSettle', 'settle VoucherExceedsDeposit', 'settleMany ok', 'finalize ok']) {
    assert.ok((counts.get(must) ?? 0) > 0 || OPS < 200, `the run exercised "${must}" (seed ${SEED})`)
  }
})

test.run()
