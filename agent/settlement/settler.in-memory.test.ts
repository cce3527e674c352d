/**
 * The settler on the in-memory chain and a manual clock: intake checks, the policy (every N
 * jobs, every T ms, minimum amount, gas ceiling, the close watch inside the challenge window),
 * crash reconciliation at each step of a settlement, a node that is down, a settlement that
 * reverts when mined. Fast: no anvil (settler.test.ts runs the same settler on a real one).
 *
 *   node --import tsx agent/settlement/settler.in-memory.test.ts
 */
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { computeAddress } from 'ethers'
import { devAccounts } from '../../contracts/anvil.ts'
import { ChainUnreachableError } from '../../contracts/chain-errors.ts'
import { InMemoryChain } from '../../contracts/in-memory-chain.ts'
import { ManualClock } from '../../protocol/manual-clock.ts'
import { ValidationError } from '../../protocol/errors.ts'
import { FastVoucherSigner } from '../../protocol/voucher.ts'
import { tmpDir } from '../../test/support/temp-dirs.ts'
import { VoucherJournal } from './journal.ts'
import { Settler, settlementPolicy, type ReceivedVoucher, type SettlementReport } from './settler.ts'

const [rKey, aKey, bKey] = devAccounts(3) as [string, string, string]
const R = computeAddress(rKey)
const A = computeAddress(aKey)
const B = computeAddress(bKey)

async function setup(p: { deposit?: bigint; expiresIn?: bigint; challengePeriod?: number } = {}) {
  const clock = new ManualClock(1_700_000_000_000)
  const chain = new InMemoryChain({ clock, challengePeriod: p.challengePeriod ?? 600 })
  chain.mint(R, 10n ** 18n)
  const requester = chain.channels(R)
  const agent = chain.channels(A)
  const { channelId } = await requester.openChannel({ payee: A, amount: p.deposit ?? 1_000n, expiry: (await requester.chainTime()) + (p.expiresIn ?? 86_400n) })
  const signer = new FastVoucherSigner(rKey, requester.hasher)
  const voucher = (cumulativeAmount: bigint, jobCount: bigint, id = channelId): ReceivedVoucher => {
    const v = { channelId: id, cumulativeAmount, jobCount, resultsRoot: `0x${randomBytes(32).toString('hex')}` }
    return { ...v, signature: signer.sign(v) }
  }
  const path = join(tmpDir(), 'settlement.db')
  const journal = new VoucherJournal(path)
  const reports: SettlementReport[] = []
  const failures: Error[] = []
  const settlerOf = (j: VoucherJournal, policy: Parameters<typeof settlementPolicy>[0] = { everyJobs: 1_000_000 }) => {
    const s = new Settler(agent, j, policy, clock)
    s.on('settled', (r) => reports.push(r))
    s.on('settleFailed', ({ error }) => failures.push(error))
    return s
  }
  return { clock, chain, requester, agent, channelId, voucher, path, journal, reports, failures, settlerOf }
}

const reason = (r: { ok: boolean }) => (r as { reason?: string }).reason

test('intake: the contract\'s refusals, off-chain; accepted vouchers settle once', async () => {
  const { chain, journal, voucher, channelId, settlerOf, requester } = await setup()
  const settler = settlerOf(journal)
  assert.equal(await settler.intake(voucher(100n, 10n)), { ok: true })
  assert.equal(await settler.intake(voucher(250n, 25n)), { ok: true })
  assert.is(reason(await settler.intake(voucher(200n, 30n))), 'NothingToSettle')
  assert.is(reason(await settler.intake(voucher(2_000n, 40n))), 'VoucherExceedsDeposit')
  assert.is(reason(await settler.intake(voucher(300n, 20n))), 'JobCountDecreased')
  const forged = voucher(300n, 30n)
  forged.signature = new FastVoucherSigner(bKey, requester.hasher).sign(forged)
  assert.is(reason(await settler.intake(forged)), 'InvalidVoucherSigner')
  const other = new Settler(chain.channels(B), new VoucherJournal(':memory:'))
  assert.is(reason(await other.intake(voucher(300n, 30n))), 'NotPayee')
  // a top-up since the settler looked: it reads the deposit again before refusing
  await requester.topUp(channelId, 5_000n)
  assert.equal(await settler.intake(voucher(3_000n, 31n)), { ok: true })

  const report = await settler.settle()
  assert.equal([report!.total, report!.jobs, report!.channels], [3_000n, 31n, 1])
  assert.is(chain.balanceOf(A), 3_000n)
  assert.is((await requester.getChannel(channelId)).paid, 3_000n)
  assert.is(journal.owed().length, 0)
  assert.is(await settler.settle(), undefined, 'nothing owed: no transaction')
  journal.close()
})

test('policy: every N jobs, every T ms on the clock, a minimum amount, a gas ceiling', async () => {
  const { clock, chain, journal, voucher, settlerOf, reports } = await setup()
  const settler = settlerOf(journal, { everyJobs: 10, everyMs: 30_000, minAmount: 50n, maxGasPrice: 2_000_000_000n })
  settler.start()
  await settler.intake(voucher(40n, 9n))
  await clock.advance(29_999)
  assert.is(reports.length, 0, 'not yet: 9 jobs, 29.999 s')
  await clock.advance(1)
  assert.is(reports.length, 0, 'the timer fired, but 40 is below the minimum amount')
  await settler.intake(voucher(60n, 10n)) // the 10th job: settles at once
  await clock.advance(0)
  assert.equal(reports.map((r) => r.total), [60n])
  chain.gasPrice = 3_000_000_000n
  await settler.intake(voucher(200n, 20n))
  await clock.advance(30_000)
  assert.is(reports.length, 1, 'gas above the ceiling: deferred')
  assert.is(journal.owed().length, 1, 'and still owed')
  chain.gasPrice = 1_000_000_000n
  await clock.advance(30_000)
  assert.equal(reports.map((r) => r.total), [60n, 140n])
  settler.stop()
  assert.is(clock.pending, 0, 'stop clears both timers')
  journal.close()
})

test('a close started on a channel we are owed on is settled inside the challenge window', async () => {
  const { clock, chain, requester, agent, channelId, journal, voucher, settlerOf } = await setup({ expiresIn: 60n, challengePeriod: 600 })
  const settler = settlerOf(journal, { everyJobs: 1_000_000, everyMs: 3_600_000, closeWatchMs: 2_000 })
  assert.equal(await settler.intake(voucher(300n, 3n)), { ok: true })
  settler.start()
  await clock.advance(120_000) // past the expiry; the watch has looked a few times
  const { closesAt } = await requester.startClose(channelId)
  await clock.advance(2_000)
  assert.is((await agent.getChannel(channelId)).paid, 300n, 'settled at the next watch, long before the hourly timer')
  assert.ok(chain.timestamp <= closesAt)
  settler.stop()
  journal.close()
})

test('without the watch, the window passes and the voucher cannot be settled any more', async () => {
  const { clock, requester, channelId, journal, voucher, settlerOf, failures } = await setup({ expiresIn: 60n, challengePeriod: 600 })
  const settler = settlerOf(journal)
  await settler.intake(voucher(300n, 3n))
  await clock.advance(60_000)
  await requester.startClose(channelId)
  await clock.advance(601_000)
  try {
    await settler.settle()
    assert.unreachable()
  } catch (e) {
    assert.is((e as { revert?: { name: string } }).revert?.name, 'ChannelClosed')
  }
  assert.is(failures.length, 1, 'settleFailed emitted')
  assert.is(journal.owed().length, 1, 'still owed in the journal')
  journal.close()
})

test('crash after journaling, before broadcast: reconciled as failed, settled again, paid once', async () => {
  const { chain, agent, journal, voucher, path, settlerOf } = await setup()
  const settler = settlerOf(journal)
  await settler.intake(voucher(70n, 7n))
  const o = journal.owed()[0]!
  const signed = await agent.signSettleMany([{ channelId: BigInt(o.channelId), cumulativeAmount: o.voucher.cumulative, resultsRoot: o.voucher.resultsRoot, jobCount: BigInt(o.voucher.jobCount), signature: o.voucher.signature }])
  journal.settlementSent(signed.hash, [{ channelId: o.channelId, cumulative: 70n }])
  journal.close() // the crash
  const again = new VoucherJournal(path)
  const restarted = settlerOf(again)
  assert.equal(await restarted.reconcile(), { confirmed: 0, failed: 1 })
  const report = await restarted.settle()
  assert.is(report!.txHash, signed.hash, 'the same nonce and call: the same transaction, signed again')
  assert.is(chain.balanceOf(A), 70n)
  again.close()
})

test('crash after broadcast, before the receipt was journaled: reconciled as confirmed, not paid twice', async () => {
  const { chain, agent, journal, voucher, path, settlerOf, channelId } = await setup()
  await settlerOf(journal).intake(voucher(80n, 8n))
  const o = journal.owed()[0]!
  const signed = await agent.signSettleMany([{ channelId, cumulativeAmount: 80n, resultsRoot: o.voucher.resultsRoot, jobCount: 8n, signature: o.voucher.signature }])
  journal.settlementSent(signed.hash, [{ channelId: o.channelId, cumulative: 80n }])
  await agent.broadcast(signed)
  journal.close() // the crash, before waitForSettlement returned
  const again = new VoucherJournal(path)
  const restarted = settlerOf(again)
  assert.equal(await restarted.reconcile(), { confirmed: 1, failed: 0 })
  assert.is(again.owed().length, 0)
  assert.is(await restarted.settle(), undefined)
  assert.is(chain.balanceOf(A), 80n)
  again.close()
})

test('the node is down: settlement fails with chain_unreachable, nothing is lost, it settles when back', async () => {
  const { chain, journal, voucher, settlerOf, failures } = await setup()
  const settler = settlerOf(journal)
  await settler.intake(voucher(90n, 9n))
  chain.setReachable(false)
  try {
    await settler.settle()
    assert.unreachable()
  } catch (e) {
    assert.instance(e, ChainUnreachableError)
  }
  assert.is(failures.length, 1)
  assert.is(journal.openSettlements().length, 0, 'refused before it was signed: nothing journaled as sent')
  chain.setReachable(true)
  assert.is((await settler.settle())!.total, 90n)
  journal.close()
})

test('a settlement that reverts when mined is journaled as failed; the voucher stays owed', async () => {
  const { clock, requester, agent, journal, voucher, settlerOf, channelId, reports } = await setup({ expiresIn: 60n, challengePeriod: 600 })
  const settler = settlerOf(journal)
  await settler.intake(voucher(50n, 5n))
  await clock.advance(60_000)
  // between signing and sending, the requester closes and the window passes: mined, reverted
  const sign = agent.signSettleMany.bind(agent)
  agent.signSettleMany = async (vs) => {
    const signed = await sign(vs)
    await requester.startClose(channelId)
    await clock.advance(601_000)
    return signed
  }
  assert.is(await settler.settle(), undefined)
  assert.is(reports.length, 0)
  assert.is(journal.openSettlements().length, 0, 'journaled as failed, not left open')
  assert.is(journal.owed().length, 1)
  assert.is((await agent.getChannel(channelId)).paid, 0n)
  journal.close()
})

test('the policy refuses out-of-range values, naming the field', () => {
  const field = (f: () => unknown) => {
    try {
      f()
    } catch (e) {
      assert.instance(e, ValidationError)
      return (e as ValidationError).field
    }
    return undefined
  }
  assert.is(field(() => settlementPolicy({ everyJobs: 0 })), 'settlement.everyJobs')
  assert.is(field(() => settlementPolicy({ everyMs: 2 ** 31 })), 'settlement.everyMs')
  assert.is(field(() => settlementPolicy({ closeWatchMs: 0 })), 'settlement.closeWatchMs')
  assert.is(field(() => settlementPolicy({ minAmount: -1n })), 'settlement.minAmount')
  assert.is(field(() => settlementPolicy({ maxGasPrice: -1n })), 'settlement.maxGasPrice')
  assert.equal(settlementPolicy({ everyJobs: undefined, everyMs: 5_000 }), { everyJobs: 1000, everyMs: 5_000, minAmount: 0n, closeWatchMs: 2000 })
})

test.run()
