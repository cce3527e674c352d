/**
 * PaymentChannels on a real anvil: open, top up, settle, settleMany, the close/challenge race,
 * settling after close, and results proven against a settled root on-chain.
 *
 *   node --import tsx contracts/channels/channels.test.ts
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { ZeroHash, getAddress, keccak256, toUtf8Bytes } from 'ethers'
import { FastVoucherSigner, verifyVoucher, type Voucher } from '../../protocol/voucher.ts'
import { ResultsTree, jobIdHash, resultLeaf } from '../../protocol/results-tree.ts'
import { balanceOf, expectRevert, increaseTime, now, setNextTimestamp, tokens, useChain } from '../../test/support/chain.ts'

const chain = useChain(test)
const t = chain.test

const REQ = 1 // requester wallets 1..3
const AGENT = 4 // agent wallets 4..6

function voucherFor(channelId: bigint, cumulativeAmount: bigint, jobCount: bigint, resultsRoot = ZeroHash): Voucher {
  return { channelId, cumulativeAmount, jobCount, resultsRoot }
}

async function open(requester: number, agent: number, amount = tokens(100), ttl = 3600n) {
  const { wallets, clients, provider } = chain.ctx
  const client = clients[requester]!
  const expiry = (await now(provider)) + ttl
  const { channelId } = await client.openChannel({ payee: wallets[agent]!.address, amount, expiry })
  return { channelId, expiry, signer: new FastVoucherSigner(wallets[requester]!.privateKey, client.hasher) }
}

t('open: deposit escrowed, event and state; bad parameters revert', async () => {
  const { wallets, clients, mesh, provider } = chain.ctx
  const channels = mesh.channels
  const before = await balanceOf(mesh.token, wallets[REQ]!)
  const expiry = (await now(provider)) + 3600n
  const { channelId, receipt } = await clients[REQ]!.openChannel({ payee: wallets[AGENT]!.address, amount: tokens(50), expiry })
  assert.is(await balanceOf(mesh.token, wallets[REQ]!), before - tokens(50))
  assert.is(await balanceOf(mesh.token, mesh.addresses.channels), tokens(50))
  const c = await clients[REQ]!.getChannel(channelId)
  assert.equal(
    [c.requester, c.payee, c.deposit, c.paid, c.expiry, c.closesAt, c.jobCount, c.finalized],
    [wallets[REQ]!.address, wallets[AGENT]!.address, tokens(50), 0n, expiry, 0n, 0n, false],
  )
  const ev = receipt.logs.map((l) => channels.interface.parseLog(l)).find((p) => p?.name === 'ChannelOpened')
  assert.equal(ev?.args.map(String), [channelId, wallets[REQ]!.address, wallets[AGENT]!.address, tokens(50), expiry].map(String))

  const ch = channels.connect(wallets[REQ]!) as typeof channels
  await expectRevert(ch.getFunction('open')(ZeroHash.slice(0, 42), tokens(1), expiry), 'InvalidPayee')
  await expectRevert(ch.getFunction('open')(wallets[AGENT]!.address, 0n, expiry), 'ZeroAmount')
  await expectRevert(ch.getFunction('open')(wallets[AGENT]!.address, 1n << 96n, expiry), 'AmountTooLarge', [1n << 96n])
  await expectRevert(ch.getFunction('open')(wallets[AGENT]!.address, tokens(1), 5n), 'ExpiryNotInFuture')
  // no allowance left: the token itself refuses (OpenZeppelin ERC20)
  await expectRevert(ch.getFunction('open')(wallets[AGENT]!.address, tokens(1), expiry), 'ERC20InsufficientAllowance')
})

t('topUp: adds deposit, extends expiry, never shortens it; only the requester', async () => {
  const { wallets, clients } = chain.ctx
  const { channelId, expiry } = await open(REQ, AGENT, tokens(10))
  await clients[REQ]!.topUp(channelId, tokens(5), expiry + 100n)
  let c = await clients[REQ]!.getChannel(channelId)
  assert.equal([c.deposit, c.expiry], [tokens(15), expiry + 100n])
  await clients[REQ]!.topUp(channelId, 0n, expiry + 200n) // extension only
  c = await clients[REQ]!.getChannel(channelId)
  assert.equal([c.deposit, c.expiry], [tokens(15), expiry + 200n])
  await expectRevert(clients[REQ]!.topUp(channelId, tokens(1), expiry), 'ExpiryDecrease', [channelId, expiry + 200n, expiry])
  await expectRevert(clients[REQ]!.topUp(channelId, 0n, 0n), 'ZeroAmount')
  await expectRevert(clients[AGENT]!.topUp(channelId, tokens(1)), 'NotRequester', [channelId, wallets[AGENT]!.address])
  await expectRevert(clients[REQ]!.topUp(9999n, tokens(1)), 'ChannelNotFound', [9999n])
})

t('settle: pays cumulative - paid to the payee, event carries root and job counts', async () => {
  const { wallets, clients, mesh } = chain.ctx
  const { channelId, signer } = await open(REQ, AGENT)
  const agent = clients[AGENT]!
  const tree = new ResultsTree()
  for (let i = 0; i < 10; i++) tree.append(resultLeaf({ jobId: `job-${i}`, outputSha256: keccak256(toUtf8Bytes(`out-${i}`)), fuel: 1000 + i }))
  const v1 = voucherFor(channelId, tokens(1), 10n, tree.root)
  const before = await balanceOf(mesh.token, wallets[AGENT]!)
  const r1 = await agent.settle(v1, signer.sign(v1))
  assert.is(r1.amount, tokens(1))
  assert.equal(r1.settlement, {
    channelId,
    payee: wallets[AGENT]!.address,
    resultsRoot: tree.root,
    amount: tokens(1),
    cumulativeAmount: tokens(1),
    jobCount: 10n,
    batchJobCount: 10n,
  })
  for (let i = 10; i < 25; i++) tree.append(resultLeaf({ jobId: `job-${i}`, outputSha256: keccak256(toUtf8Bytes(`out-${i}`)), fuel: 1000 + i }))
  const v2 = voucherFor(channelId, tokens(2.5), 25n, tree.root)
  const r2 = await agent.settle(v2, signer.sign(v2))
  assert.is(r2.amount, tokens(1.5))
  assert.equal([r2.settlement.jobCount, r2.settlement.batchJobCount], [25n, 15n])
  assert.is(await balanceOf(mesh.token, wallets[AGENT]!), before + tokens(2.5))
  const c = await agent.getChannel(channelId)
  assert.equal([c.paid, c.jobCount], [tokens(2.5), 25n])
  // only the payee settles
  const v3 = voucherFor(channelId, tokens(3), 26n)
  await expectRevert(clients[REQ + 1]!.settle(v3, signer.sign(v3)), 'NotPayee', [channelId, wallets[REQ + 1]!.address])
  await expectRevert(agent.settle(voucherFor(4242n, 1n, 1n), signer.sign(voucherFor(4242n, 1n, 1n))), 'ChannelNotFound', [4242n])
})

t('settleMany: many channels of one payee, one transaction, one transfer, all or nothing', async () => {
  const { wallets, clients, mesh } = chain.ctx
  const agent = clients[AGENT + 1]!
  const opened = [await open(1, AGENT + 1), await open(2, AGENT + 1), await open(3, AGENT + 1), await open(1, AGENT + 1)]
  const vouchers = opened.map((o, i) => {
    const v = voucherFor(o.channelId, tokens(i + 1), BigInt(100 * (i + 1)), keccak256(toUtf8Bytes(`root-${i}`)))
    return { ...v, signature: o.signer.sign(v) }
  })
  const before = await balanceOf(mesh.token, wallets[AGENT + 1]!)
  const r = await agent.settleMany(vouchers)
  assert.is(r.total, tokens(10))
  assert.equal(r.settlements.map((s) => [s.channelId, s.amount, s.jobCount, s.resultsRoot]), vouchers.map((v) => [v.channelId, v.cumulativeAmount, v.jobCount, v.resultsRoot]))
  assert.is(await balanceOf(mesh.token, wallets[AGENT + 1]!), before + tokens(10))
  const transfers = r.receipt.logs.filter((l) => getAddress(l.address) === mesh.addresses.token)
  assert.is(transfers.length, 1, 'one token transfer for the whole batch')

  // a batch with one bad entry (channel of another payee) reverts entirely
  const foreign = await open(2, AGENT + 2)
  const fv = voucherFor(foreign.channelId, tokens(1), 1n)
  const next = opened.map((o, i) => {
    const v = voucherFor(o.channelId, tokens(i + 2), BigInt(100 * (i + 1) + 1))
    return { ...v, signature: o.signer.sign(v) }
  })
  await expectRevert(agent.settleMany([...next, { ...fv, signature: foreign.signer.sign(fv) }]), 'NotPayee')
  for (const [i, o] of opened.entries()) assert.is((await agent.getChannel(o.channelId)).paid, tokens(i + 1), 'nothing of the failed batch was settled')
  await expectRevert(agent.settleMany([]), 'EmptyBatch')
  await expectRevert(agent.contract.getFunction('settleMany')([next[0]!].map(({ signature: _, ...v }) => v), []), 'LengthMismatch', [1n, 0n])
  // the same channel twice in a batch: the second entry must be newer
  await expectRevert(agent.settleMany([next[0]!, next[0]!]), 'NothingToSettle')
})

t('close: not before expiry; payee settles inside the window and wins; then the refund', async () => {
  const { wallets, clients, mesh, provider } = chain.ctx
  const requester = clients[REQ]!
  const agent = clients[AGENT]!
  const { channelId, expiry, signer } = await open(REQ, AGENT, tokens(20), 600n)
  const v = voucherFor(channelId, tokens(7), 70n)
  const sig = signer.sign(v) // the agent holds this, unsettled

  await expectRevert(requester.startClose(channelId), 'ChannelNotExpired', [channelId, expiry])
  await expectRevert(agent.startClose(channelId), 'NotRequester')
  await setNextTimestamp(provider, expiry)
  const { closesAt } = await requester.startClose(channelId)
  const period = BigInt(mesh.settings.challengePeriod)
  assert.is(closesAt, expiry + period)
  await expectRevert(requester.startClose(channelId), 'ChannelClosing', [channelId, closesAt])
  await expectRevert(requester.topUp(channelId, tokens(1)), 'ChannelClosing', [channelId, closesAt])
  await expectRevert(requester.finalizeClose(channelId), 'ChallengeWindowOpen', [channelId, closesAt])

  // the last second of the window still belongs to the payee
  await setNextTimestamp(provider, closesAt)
  const agentBefore = await balanceOf(mesh.token, wallets[AGENT]!)
  const r = await agent.settle(v, sig)
  assert.is(r.amount, tokens(7))
  await expectRevert(requester.finalizeClose(channelId), 'ChallengeWindowOpen') // same second, next block

  await increaseTime(provider, 1)
  const reqBefore = await balanceOf(mesh.token, wallets[REQ]!)
  const { refund } = await requester.finalizeClose(channelId)
  assert.is(refund, tokens(13))
  assert.is(await balanceOf(mesh.token, wallets[REQ]!), reqBefore + tokens(13))
  assert.is(await balanceOf(mesh.token, wallets[AGENT]!), agentBefore + tokens(7))
  const c = await agent.getChannel(channelId)
  assert.equal([c.finalized, c.paid, c.deposit], [true, tokens(7), tokens(20)])
  await expectRevert(requester.finalizeClose(channelId), 'AlreadyFinalized', [channelId])
  const later = voucherFor(channelId, tokens(8), 80n)
  await expectRevert(agent.settle(later, signer.sign(later)), 'ChannelClosed', [channelId, closesAt])
})

t('close: payee too late - settle fails after the window, refund goes to the requester in full', async () => {
  const { wallets, clients, mesh, provider } = chain.ctx
  const requester = clients[REQ + 1]!
  const agent = clients[AGENT]!
  const { channelId, expiry, signer } = await open(REQ + 1, AGENT, tokens(9), 60n)
  const v = voucherFor(channelId, tokens(4), 4n)
  const sig = signer.sign(v)
  await increaseTime(provider, Number(expiry - (await now(provider))) + 1)
  const { closesAt } = await requester.startClose(channelId)
  await setNextTimestamp(provider, closesAt + 1n)
  await expectRevert(agent.settle(v, sig), 'ChannelClosed', [channelId, closesAt]) // window over, not yet finalized
  const before = await balanceOf(mesh.token, wallets[REQ + 1]!)
  const { refund } = await requester.finalizeClose(channelId)
  assert.is(refund, tokens(9))
  assert.is(await balanceOf(mesh.token, wallets[REQ + 1]!), before + tokens(9))
  await expectRevert(agent.settle(v, sig), 'ChannelClosed', [channelId, closesAt]) // and after finalizing
  await expectRevert(agent.settleMany([{ ...v, signature: sig }]), 'ChannelClosed')
})

t('results: proofs from protocol/results-tree.ts verify on-chain against the settled root', async () => {
  const { clients, mesh } = chain.ctx
  const channels = mesh.channels
  const { channelId, signer } = await open(REQ + 2, AGENT + 2)
  const results = Array.from({ length: 37 }, (_, i) => ({
    jobId: `sensor-7-${i}`,
    outputSha256: keccak256(toUtf8Bytes(`output ${i}`)).slice(2), // 64 hex chars, as in Result.outputSha256
    fuel: 10_000 + i * 7,
  }))
  const tree = ResultsTree.from(results.map(resultLeaf))
  const v = voucherFor(channelId, tokens(0.37), 37n, tree.root)
  const { settlement } = await clients[AGENT + 2]!.settle(v, signer.sign(v))
  assert.is(settlement.resultsRoot, tree.root)
  for (const [i, r] of results.entries()) {
    const onChainLeaf = await channels.getFunction('resultLeaf')(jobIdHash(r.jobId), `0x${r.outputSha256}`, r.fuel)
    assert.is(onChainLeaf, tree.leaf(i), `leaf ${i} encoding`)
    assert.ok(await channels.getFunction('verifyResult')(settlement.resultsRoot, tree.proof(i), tree.leaf(i)), `proof ${i}`)
  }
  // a result that was not in the batch, or a proof for another leaf, does not verify
  const stranger = resultLeaf({ jobId: 'sensor-7-999', outputSha256: results[0]!.outputSha256, fuel: 1 })
  assert.not.ok(await channels.getFunction('verifyResult')(tree.root, tree.proof(3), stranger))
  assert.not.ok(await channels.getFunction('verifyResult')(tree.root, tree.proof(3), tree.leaf(4)))
  const tampered = resultLeaf({ ...results[5]!, fuel: results[5]!.fuel + 1 })
  assert.not.ok(await channels.getFunction('verifyResult')(tree.root, tree.proof(5), tampered))
})

t('off-chain: hashVoucher equals the TS digest; verifyVoucher accepts what settle accepts', async () => {
  const { wallets, clients, mesh } = chain.ctx
  const { channelId, signer } = await open(REQ, AGENT + 1, tokens(3))
  const v = voucherFor(channelId, tokens(1), 3n, keccak256(toUtf8Bytes('r')))
  const sig = signer.sign(v)
  assert.is(await mesh.channels.getFunction('hashVoucher')(v), clients[REQ]!.hasher.digest(v))
  assert.is(await mesh.channels.getFunction('domainSeparator')(), clients[REQ]!.hasher.domainSeparator)
  assert.is(sig, await clients[REQ]!.signVoucher(v), 'ethers signTypedData == SigningKey.sign on the cached digest')
  const check = verifyVoucher(v, sig, { hasher: clients[AGENT + 1]!.hasher, requester: wallets[REQ]!.address, channelId, deposit: tokens(3), previous: { cumulativeAmount: 0n, jobCount: 0n } })
  assert.ok(check.ok)
  await clients[AGENT + 1]!.settle(v, sig)
})

test.run()
