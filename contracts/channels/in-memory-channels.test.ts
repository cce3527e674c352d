/**
 * The in-memory PaymentChannels (the twin of ChannelsClient): the contract's rules and errors,
 * all-or-nothing transactions, the challenge window on a manual clock, signed transactions and
 * receipts, token conservation. No chain needed; that the twin answers as the contract does is
 * checked against anvil in in-memory-vs-contract.test.ts.
 *
 *   node --import tsx contracts/channels/in-memory-channels.test.ts
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { computeAddress, Signature, ZeroAddress } from 'ethers'
import { ManualClock } from '../../protocol/manual-clock.ts'
import { ErrorCode } from '../../protocol/errors.ts'
import { FastVoucherSigner, type SignedVoucher } from '../../protocol/voucher.ts'
import { devAccounts } from '../anvil.ts'
import { ChainUnreachableError, TxRevertedError } from '../chain-errors.ts'
import { InMemoryChain } from '../in-memory-chain.ts'

const [rKey, aKey, bKey] = devAccounts(3) as [string, string, string]
const R = computeAddress(rKey)
const A = computeAddress(aKey)
const B = computeAddress(bKey)

function setup(challengePeriod = 300) {
  const clock = new ManualClock(1_700_000_000_000)
  const chain = new InMemoryChain({ clock, challengePeriod })
  chain.mint(R, 10_000n)
  const requester = chain.channels(R)
  const agent = chain.channels(A)
  const signer = new FastVoucherSigner(rKey, requester.hasher)
  const voucher = (channelId: bigint, cumulativeAmount: bigint, jobCount: bigint): SignedVoucher => {
    const v = { channelId, cumulativeAmount, jobCount, resultsRoot: `0x${cumulativeAmount.toString(16).padStart(64, '0')}` }
    return { ...v, signature: signer.sign(v) }
  }
  return { clock, chain, requester, agent, voucher }
}

/** The custom error a promise is rejected with, as `Name(arg, ...)`. */
async function revertOf(p: Promise<unknown>): Promise<string> {
  try {
    await p
  } catch (e) {
    if (!(e instanceof TxRevertedError) || !e.revert) throw e
    assert.is(e.code, ErrorCode.txReverted)
    return `${e.revert.name}(${e.revert.args.map(String).join(', ')})`
  }
  throw new assert.Assertion({ message: 'expected a revert', generated: false, operator: 'revert', expects: 'a revert', actual: 'success' })
}

test('open, top up, settle: the contract\'s checks in its order, with their arguments', async () => {
  const { chain, requester, agent, voucher } = setup()
  const now = await requester.chainTime()
  assert.is(await revertOf(requester.openChannel({ payee: ZeroAddress, amount: 1n, expiry: now + 10n })), `InvalidPayee(${ZeroAddress})`)
  assert.is(await revertOf(requester.openChannel({ payee: A, amount: 0n, expiry: now + 10n })), 'ZeroAmount()')
  assert.is(await revertOf(requester.openChannel({ payee: A, amount: 1n, expiry: now })), `ExpiryNotInFuture(${now}, ${now})`)
  assert.is(await revertOf(requester.openChannel({ payee: A, amount: 100n, expiry: now + 100n, approve: false })), `ERC20InsufficientAllowance(${chain.addresses.channels}, 1, 100)`, "the first attempt's approval (a transaction of its own) stays")
  assert.is(await revertOf(chain.channels(B).openChannel({ payee: A, amount: 5n, expiry: now + 100n })), `ERC20InsufficientBalance(${B}, 0, 5)`)

  const { channelId } = await requester.openChannel({ payee: A, amount: 100n, expiry: now + 100n })
  assert.is(channelId, 1n)
  assert.is(chain.balanceOf(R), 9_900n)
  assert.is(chain.balanceOf(chain.addresses.channels), 100n)
  await requester.topUp(channelId, 50n, now + 200n)
  assert.is(await revertOf(requester.topUp(channelId, 0n, 0n)), 'ZeroAmount()')
  assert.is(await revertOf(requester.topUp(channelId, 1n, now + 150n)), `ExpiryDecrease(1, ${now + 200n}, ${now + 150n})`)
  assert.is(await revertOf(agent.topUp(channelId, 1n)), `NotRequester(1, ${A})`)
  assert.is(await revertOf(requester.topUp(9n, 1n)), 'ChannelNotFound(9)')
  assert.equal(await requester.getChannel(channelId), { channelId, requester: R, payee: A, expiry: now + 200n, closesAt: 0n, jobCount: 0n, finalized: false, deposit: 150n, paid: 0n })

  const v = voucher(channelId, 60n, 3n)
  const { amount, settlement } = await agent.settle(v, v.signature)
  assert.is(amount, 60n)
  assert.equal(settlement, { channelId, payee: A, resultsRoot: v.resultsRoot, amount: 60n, cumulativeAmount: 60n, jobCount: 3n, batchJobCount: 3n })
  assert.is(await revertOf(agent.settle(v, v.signature)), 'NothingToSettle(1, 60, 60)')
  assert.is(await revertOf(agent.settle(voucher(channelId, 151n, 4n), voucher(channelId, 151n, 4n).signature)), 'VoucherExceedsDeposit(1, 151, 150)')
  assert.is(await revertOf(agent.settle(voucher(channelId, 70n, 2n), voucher(channelId, 70n, 2n).signature)), 'JobCountDecreased(1, 2, 3)')
  const w = voucher(channelId, 70n, 4n)
  assert.is(await revertOf(chain.channels(B).settle(w, w.signature)), `NotPayee(1, ${B})`)
  const foreign = new FastVoucherSigner(bKey, requester.hasher).sign(w)
  assert.is(await revertOf(agent.settle(w, foreign)), `InvalidVoucherSigner(1, ${B}, ${R})`)
  // OpenZeppelin ECDSA: 64-byte compact, high s, v not 27/28
  const sig = Signature.from(w.signature)
  assert.is(await revertOf(agent.settle(w, sig.compactSerialized)), 'ECDSAInvalidSignatureLength(64)')
  const highS = (0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n - BigInt(sig.s)).toString(16).padStart(64, '0')
  assert.match(await revertOf(agent.settle(w, `${sig.r}${highS}${sig.v === 27 ? '1c' : '1b'}`)), /^ECDSAInvalidSignatureS\(0x[0-9a-f]{64}\)$/)
  assert.is(await revertOf(agent.settle(w, `${w.signature.slice(0, 130)}00`)), 'ECDSAInvalidSignature()')
  assert.is(chain.balanceOf(A), 60n, 'only the one good settlement paid')
})

test('settleMany is all or nothing, one transfer for the sum', async () => {
  const { chain, requester, agent, voucher } = setup()
  const expiry = (await requester.chainTime()) + 100n
  const a = (await requester.openChannel({ payee: A, amount: 100n, expiry })).channelId
  const b = (await requester.openChannel({ payee: A, amount: 100n, expiry })).channelId
  const first = await agent.settleMany([voucher(a, 40n, 1n), voucher(b, 30n, 1n)])
  assert.is(first.total, 70n)
  assert.is(first.settlements.length, 2)
  assert.is(await revertOf(agent.settleMany([])), 'EmptyBatch()')
  // the second voucher is stale: the first one's effects are undone too
  assert.is(await revertOf(agent.settleMany([voucher(a, 90n, 2n), voucher(b, 30n, 2n)])), 'NothingToSettle(2, 30, 30)')
  assert.is((await agent.getChannel(a)).paid, 40n)
  assert.is(chain.balanceOf(A), 70n)
  assert.is(chain.balanceOf(chain.addresses.channels), 130n)
})

test('the challenge window follows the clock: settle up to closesAt, finalize after it', async () => {
  const { clock, chain, requester, agent, voucher } = setup(300)
  const expiry = (await requester.chainTime()) + 60n
  const { channelId } = await requester.openChannel({ payee: A, amount: 500n, expiry })
  assert.is(await revertOf(requester.startClose(channelId)), `ChannelNotExpired(1, ${expiry})`)
  await clock.advance(60_000)
  const { closesAt } = await requester.startClose(channelId)
  assert.is(closesAt, expiry + 300n)
  const events = await agent.closesStarted(0, await agent.blockNumber())
  assert.equal(events.map((e) => [e.channelId, e.closesAt]), [[channelId, closesAt]])
  assert.is(await revertOf(requester.startClose(channelId)), `ChannelClosing(1, ${closesAt})`)
  assert.is(await revertOf(requester.topUp(channelId, 1n)), `ChannelClosing(1, ${closesAt})`)
  assert.is(await revertOf(requester.finalizeClose(channelId)), `ChallengeWindowOpen(1, ${closesAt})`)
  await clock.advance(300_000) // now == closesAt: the payee's last second
  await agent.settle(voucher(channelId, 100n, 1n), voucher(channelId, 100n, 1n).signature)
  chain.increaseTime(1)
  assert.is(await revertOf(agent.settle(voucher(channelId, 200n, 2n), voucher(channelId, 200n, 2n).signature)), `ChannelClosed(1, ${closesAt})`)
  assert.is((await requester.finalizeClose(channelId)).refund, 400n)
  assert.is(await revertOf(requester.finalizeClose(channelId)), 'AlreadyFinalized(1)')
  assert.is(chain.balanceOf(R), 10_000n - 100n)
  assert.is(chain.balanceOf(A), 100n)
  assert.is(chain.balanceOf(chain.addresses.channels), 0n, 'tokens conserved')
})

test('a signed settleMany: hash known before it is sent, nonce checked, a revert at mining is mined as reverted', async () => {
  const { clock, requester, agent, voucher } = setup(300)
  const expiry = (await requester.chainTime()) + 100n
  const { channelId } = await requester.openChannel({ payee: A, amount: 100n, expiry })
  const v = voucher(channelId, 50n, 5n)
  const signed = await agent.signSettleMany([v])
  assert.equal(await agent.signSettleMany([v]), signed, 'the same call and nonce: the same transaction')
  assert.is(await agent.settlementReceipt(signed.hash), null, 'not sent: no receipt')
  assert.is(await revertOf(agent.signSettleMany([voucher(channelId, 500n, 5n)])), 'VoucherExceedsDeposit(1, 500, 100)', 'refused when signed, as gas estimation refuses it')
  await agent.broadcast(signed)
  const receipt = await agent.waitForSettlement(signed.hash)
  assert.equal([receipt.status, receipt.settlements.map((s) => s.amount)], ['success', [50n]])

  // signed, then its nonce used by another transaction of the payee: the node refuses it
  const late = await agent.signSettleMany([voucher(channelId, 60n, 6n)])
  await agent.settle(voucher(channelId, 70n, 7n), voucher(channelId, 70n, 7n).signature)
  try {
    await agent.broadcast(late)
    assert.unreachable('the nonce was used in between')
  } catch (e) {
    assert.is((e as { code?: string }).code, ErrorCode.rpcError)
  }
  assert.is(await agent.settlementReceipt(late.hash), null)

  // signed, then the window closes before it is sent: mined, reverted, nothing paid, the next nonce taken
  const stale = await agent.signSettleMany([voucher(channelId, 80n, 8n)])
  await clock.advance(100_000)
  await requester.startClose(channelId)
  await clock.advance(301_000)
  await agent.broadcast(stale)
  assert.equal(await agent.waitForSettlement(stale.hash), { hash: stale.hash, status: 'reverted', gasUsed: 0n, settlements: [] })
  assert.is((await agent.getChannel(channelId)).paid, 70n)
  try {
    await agent.broadcast(stale)
    assert.unreachable('a mined transaction cannot be sent again')
  } catch (e) {
    assert.is((e as { code?: string }).code, ErrorCode.rpcError)
  }
})

test('a node that does not answer: every call fails with chain_unreachable, nothing changes', async () => {
  const { chain, requester } = setup()
  chain.setReachable(false)
  try {
    await requester.openChannel({ payee: A, amount: 1n, expiry: 10n ** 12n })
    assert.unreachable()
  } catch (e) {
    assert.instance(e, ChainUnreachableError)
    assert.is((e as ChainUnreachableError).code, ErrorCode.chainUnreachable)
  }
  chain.setReachable(true)
  assert.is(chain.balanceOf(R), 10_000n)
  assert.equal(await requester.getChannel(1n), { channelId: 1n, requester: ZeroAddress, payee: ZeroAddress, expiry: 0n, closesAt: 0n, jobCount: 0n, finalized: false, deposit: 0n, paid: 0n })
})

test.run()
