/**
 * The in-memory twin answers as the contract does: the same script of calls (every check of
 * PaymentChannels, success and failure) runs on ChannelsClient over anvil and on
 * InMemoryChannels, at the same block timestamps; every outcome (the result, or the custom error
 * with its arguments), every channel's state after it, and the token balances must be equal.
 *
 *   node --import tsx contracts/channels/in-memory-vs-contract.test.ts
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { MaxUint256, Signature, ZeroAddress, type Contract } from 'ethers'
import { ManualClock } from '../../protocol/manual-clock.ts'
import { FastVoucherSigner, SECP256K1_N, type SignedVoucher } from '../../protocol/voucher.ts'
import { balanceOf, now, outcomeOf, send, setNextTimestamp, tokens, useChain } from '../../test/support/chain.ts'
import { InMemoryChain } from '../in-memory-chain.ts'
import type { PaymentChannels } from './payment-channels.ts'

const PERIOD = 300
const chain = useChain(test, { accounts: 5, deploy: { challengePeriod: PERIOD } })
const REQ = 1
const AGENT = 2
const OTHER = 3
const POOR = 4 // approves nothing

interface Side {
  name: string
  as: (i: number) => PaymentChannels
  at: (timestamp: bigint) => Promise<void>
  balance: (who: string) => Promise<bigint>
}

chain.test('the same script on anvil and in memory: equal outcomes, channel states and balances', async () => {
  const { wallets, clients, mesh, provider, node } = chain.ctx
  const start = await now(provider)
  const clock = new ManualClock(Number(start) * 1000)
  const twin = new InMemoryChain({ chainId: mesh.chainId, clock, challengePeriod: PERIOD, addresses: mesh.addresses })
  for (const w of wallets) twin.mint(w.address, await balanceOf(mesh.token, w))
  await send(mesh.token.connect(wallets[REQ]!) as Contract, 'approve', mesh.addresses.channels, MaxUint256)
  twin.approve(wallets[REQ]!.address, mesh.addresses.channels, MaxUint256)

  const real: Side = { name: 'anvil', as: (i) => clients[i]!, at: (t) => setNextTimestamp(provider, t), balance: (who) => balanceOf(mesh.token, who) }
  const memory: Side = {
    name: 'memory',
    as: (i) => twin.channels(wallets[i]!.address),
    at: async (t) => twin.setNextBlockTimestamp(t),
    balance: async (who) => twin.balanceOf(who),
  }
  const signer = new FastVoucherSigner(node.accounts[REQ]!, clients[REQ]!.hasher)
  const foreign = new FastVoucherSigner(node.accounts[OTHER]!, clients[REQ]!.hasher)
  const voucher = (channelId: bigint, cumulativeAmount: bigint, jobCount: bigint, by = signer): SignedVoucher => {
    const v = { channelId, cumulativeAmount, jobCount, resultsRoot: `0x${(cumulativeAmount * 7n + jobCount).toString(16).padStart(64, '0')}` }
    return { ...v, signature: by.sign(v) }
  }
  const good = voucher(1n, 100n, 3n)
  const sig = Signature.from(good.signature)
  const highS = `${sig.r}${(SECP256K1_N - BigInt(sig.s)).toString(16).padStart(64, '0')}${sig.v === 27 ? '1c' : '1b'}`
  const T0 = start + 100n
  const expiry = T0 + 1000n
  const closesAt = expiry + BigInt(PERIOD)

  // [what, timestamp of the block, the call]
  type Step = [string, bigint, (s: Side) => Promise<string>]
  let t = T0
  const next = (dt = 3n) => (t += dt)
  const steps: Step[] = [
    ['open to nobody', next(), (s) => outcomeOf(s.as(REQ).openChannel({ payee: ZeroAddress, amount: 1n, expiry, approve: false }), (r) => r.channelId)],
    ['open with nothing', next(), (s) => outcomeOf(s.as(REQ).openChannel({ payee: wallets[AGENT]!.address, amount: 0n, expiry, approve: false }), (r) => r.channelId)],
    ((at: bigint): Step => ['open expiring now', at, (s) => outcomeOf(s.as(REQ).openChannel({ payee: wallets[AGENT]!.address, amount: 1n, expiry: at, approve: false }), (r) => r.channelId)])(next()),
    ['open above uint96', next(), (s) => outcomeOf(s.as(REQ).openChannel({ payee: wallets[AGENT]!.address, amount: 1n << 96n, expiry, approve: false }), (r) => r.channelId)],
    ['open unapproved', next(), (s) => outcomeOf(s.as(POOR).openChannel({ payee: wallets[AGENT]!.address, amount: 5n, expiry, approve: false }), (r) => r.channelId)],
    ['open 1', next(), (s) => outcomeOf(s.as(REQ).openChannel({ payee: wallets[AGENT]!.address, amount: tokens(1), expiry, approve: false }), (r) => r.channelId)],
    ['open 2', next(), (s) => outcomeOf(s.as(REQ).openChannel({ payee: wallets[AGENT]!.address, amount: 500n, expiry, approve: false }), (r) => r.channelId)],
    ['top up and extend', next(), (s) => outcomeOf(s.as(REQ).topUp(1n, 100n, expiry + 10n, false))],
    ['top up nothing', next(), (s) => outcomeOf(s.as(REQ).topUp(1n, 0n, 0n, false))],
    ['top up shortening', next(), (s) => outcomeOf(s.as(REQ).topUp(1n, 1n, expiry, false))],
    ['top up by the payee', next(), (s) => outcomeOf(s.as(AGENT).topUp(1n, 1n, 0n, false))],
    ['top up a missing channel', next(), (s) => outcomeOf(s.as(REQ).topUp(99n, 1n, 0n, false))],
    ['settle', next(), (s) => outcomeOf(s.as(AGENT).settle(good, good.signature), (r) => [r.amount, r.settlement.batchJobCount])],
    ['settle it again', next(), (s) => outcomeOf(s.as(AGENT).settle(good, good.signature), (r) => r.amount)],
    ['settle above the deposit', next(), (s) => outcomeOf(s.as(AGENT).settle(voucher(2n, 501n, 1n), voucher(2n, 501n, 1n).signature), (r) => r.amount)],
    ['settle fewer jobs', next(), (s) => outcomeOf(s.as(AGENT).settle(voucher(1n, 200n, 2n), voucher(1n, 200n, 2n).signature), (r) => r.amount)],
    ['settle a foreign signature', next(), (s) => outcomeOf(s.as(AGENT).settle(voucher(1n, 200n, 4n, foreign), voucher(1n, 200n, 4n, foreign).signature), (r) => r.amount)],
    ['settle by another', next(), (s) => outcomeOf(s.as(OTHER).settle(voucher(1n, 200n, 4n), voucher(1n, 200n, 4n).signature), (r) => r.amount)],
    ['settle a compact signature', next(), (s) => outcomeOf(s.as(AGENT).settle({ ...good, cumulativeAmount: 150n }, sig.compactSerialized), (r) => r.amount)],
    ['settle a high-s signature', next(), (s) => outcomeOf(s.as(AGENT).settle({ ...good, cumulativeAmount: 150n }, highS), (r) => r.amount)],
    ['settle v = 0', next(), (s) => outcomeOf(s.as(AGENT).settle({ ...good, cumulativeAmount: 150n }, `${good.signature.slice(0, 130)}00`), (r) => r.amount)],
    ['settle many', next(), (s) => outcomeOf(s.as(AGENT).settleMany([voucher(1n, 300n, 6n), voucher(2n, 50n, 1n)]), (r) => [r.total, ...r.settlements.map((x) => x.amount)])],
    ['settle none', next(), (s) => outcomeOf(s.as(AGENT).settleMany([]), (r) => r.total)],
    ['settle many, the second stale', next(), (s) => outcomeOf(s.as(AGENT).settleMany([voucher(1n, 400n, 7n), voucher(2n, 50n, 1n)]), (r) => r.total)],
    ['settle in steps', next(), async (s) => {
      const signed = await s.as(AGENT).signSettleMany([voucher(1n, 350n, 7n)])
      await s.as(AGENT).broadcast(signed)
      const r = await s.as(AGENT).waitForSettlement(signed.hash)
      return `${r.status} ${r.settlements.map((x) => x.amount).join(' ')}`
    }],
    ['sign a batch that would revert', next(), (s) => outcomeOf(s.as(AGENT).signSettleMany([voucher(1n, 1n, 7n)]))],
    ['close before the expiry', next(), (s) => outcomeOf(s.as(REQ).startClose(2n), (r) => r.closesAt)],
    ['close by the payee', next(), (s) => outcomeOf(s.as(AGENT).startClose(2n), (r) => r.closesAt)],
    ['close at the expiry', expiry, (s) => outcomeOf(s.as(REQ).startClose(2n), (r) => r.closesAt)],
    ['close again', expiry + 1n, (s) => outcomeOf(s.as(REQ).startClose(2n), (r) => r.closesAt)],
    ['top up while closing', expiry + 2n, (s) => outcomeOf(s.as(REQ).topUp(2n, 1n, 0n, false))],
    ['finalize in the window', expiry + 3n, (s) => outcomeOf(s.as(REQ).finalizeClose(2n), (r) => r.refund)],
    ['finalize a channel not closing', expiry + 4n, (s) => outcomeOf(s.as(REQ).finalizeClose(1n), (r) => r.refund)],
    ['settle in the last second', closesAt, (s) => outcomeOf(s.as(AGENT).settle(voucher(2n, 80n, 2n), voucher(2n, 80n, 2n).signature), (r) => r.amount)],
    ['settle after the window', closesAt + 1n, (s) => outcomeOf(s.as(AGENT).settle(voucher(2n, 90n, 3n), voucher(2n, 90n, 3n).signature), (r) => r.amount)],
    ['finalize by the payee', closesAt + 2n, (s) => outcomeOf(s.as(AGENT).finalizeClose(2n), (r) => r.refund)],
    ['finalize', closesAt + 3n, (s) => outcomeOf(s.as(REQ).finalizeClose(2n), (r) => r.refund)],
    ['finalize again', closesAt + 4n, (s) => outcomeOf(s.as(REQ).finalizeClose(2n), (r) => r.refund)],
    ['top up a finalized channel', closesAt + 5n, (s) => outcomeOf(s.as(REQ).topUp(2n, 1n, 0n, false))],
  ]

  const seen = new Set<string>()
  for (const [what, at, call] of steps) {
    const outcomes: string[] = []
    for (const side of [real, memory]) {
      await side.at(at)
      outcomes.push(await call(side))
    }
    assert.is(outcomes[1], outcomes[0], `${what}: in memory as on anvil`)
    seen.add(outcomes[0]!.replace(/\(.*$/, '').split(' ')[0]!)
    for (const id of [1n, 2n, 99n]) {
      assert.equal(await memory.as(AGENT).getChannel(id), await real.as(AGENT).getChannel(id), `${what}: channel ${id}`)
    }
  }
  for (const w of [...wallets.map((x) => x.address), mesh.addresses.channels]) {
    assert.is(await memory.balance(w), await real.balance(w), `balance of ${w}`)
  }
  // the script went through every custom error the channels (and the token) have on these paths
  for (const name of ['ok', 'success', 'InvalidPayee', 'ZeroAmount', 'ExpiryNotInFuture', 'AmountTooLarge', 'ERC20InsufficientAllowance', 'ExpiryDecrease', 'NotRequester', 'ChannelNotFound',
    'NothingToSettle', 'VoucherExceedsDeposit', 'JobCountDecreased', 'InvalidVoucherSigner', 'NotPayee', 'ECDSAInvalidSignatureLength', 'ECDSAInvalidSignatureS', 'ECDSAInvalidSignature',
    'EmptyBatch', 'ChannelNotExpired', 'ChannelClosing', 'ChallengeWindowOpen', 'CloseNotStarted', 'ChannelClosed', 'AlreadyFinalized']) {
    assert.ok(seen.has(name), `the script reached ${name}`)
  }
})

test.run()
