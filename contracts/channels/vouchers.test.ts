/**
 * Voucher attacks on a real anvil, each checked on-chain and against the off-chain verifier:
 * the same voucher twice, replays on another chain id / contract / channel, high-s, 64-byte
 * compact and v = 0/1 encodings, a foreign signer, a claim above the deposit, a stale voucher,
 * a decreasing job count.
 *
 *   node --import tsx contracts/channels/vouchers.test.ts
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { Signature, ZeroHash, concat, keccak256, toBeHex, toUtf8Bytes } from 'ethers'
import { FastVoucherSigner, SECP256K1_N, VoucherHasher, verifyVoucher, type Voucher, type VoucherRejection } from '../../protocol/voucher.ts'
import { ChannelsClient } from './channels-client.ts'
import { deployContract } from '../deploy.ts'
import { balanceOf, expectRevert, now, startChain, stopChain, tokens, useChain, type ChainContext } from '../../test/support/chain.ts'

const chain = useChain(test)
const t = chain.test
const REQ = 1
const AGENT = 2
const OTHER = 3

const v = (channelId: bigint, cumulativeAmount: bigint, jobCount: bigint, resultsRoot = ZeroHash): Voucher => ({ channelId, cumulativeAmount, jobCount, resultsRoot })

async function open(ctx: ChainContext, requester: number, agent: number, amount = tokens(10)) {
  const client = ctx.clients[requester]!
  const expiry = (await now(ctx.provider)) + 3600n
  const { channelId } = await client.openChannel({ payee: ctx.wallets[agent]!.address, amount, expiry })
  return { channelId, signer: new FastVoucherSigner(ctx.wallets[requester]!.privateKey, client.hasher) }
}

/** The agent's off-chain verdict with the chain's state as context. */
async function offChain(ctx: ChainContext, voucher: Voucher, sig: string, hasher?: VoucherHasher): Promise<VoucherRejection | 'ok'> {
  const c = await ctx.clients[AGENT]!.getChannel(voucher.channelId)
  const r = verifyVoucher(voucher, sig, {
    hasher: hasher ?? ctx.clients[AGENT]!.hasher,
    requester: ctx.wallets[REQ]!.address,
    deposit: c.deposit,
    previous: { cumulativeAmount: c.paid, jobCount: c.jobCount },
  })
  return r.ok ? 'ok' : r.reason
}

function highS(sig: string): string {
  const s = Signature.from(sig)
  return concat([s.r, toBeHex(SECP256K1_N - BigInt(s.s), 32), s.v === 27 ? '0x1c' : '0x1b'])
}

let firstChannel: { channelId: bigint; signer: FastVoucherSigner } | null = null

t('replay on another chain id: same addresses, same channel id, the signature does not hold', async () => {
  const a = chain.ctx
  const b = await startChain({ anvil: { chainId: 31338 } })
  try {
    assert.equal(b.mesh.addresses, a.mesh.addresses, 'same deployer and nonces give the same addresses on both chains')
    const onA = await open(a, REQ, AGENT)
    const onB = await open(b, REQ, AGENT)
    assert.is(onA.channelId, onB.channelId)
    firstChannel = onA
    const voucher = v(onA.channelId, tokens(1), 1n)
    const sigA = onA.signer.sign(voucher)
    const sigB = onB.signer.sign(voucher)
    assert.is.not(sigA, sigB, 'the chain id is in the signed domain')

    const balB = await balanceOf(b.mesh.token, b.wallets[AGENT]!)
    await expectRevert(b.clients[AGENT]!.settle(voucher, sigA), 'InvalidVoucherSigner')
    assert.is(await offChain(b, voucher, sigA), 'InvalidVoucherSigner')
    await expectRevert(a.clients[AGENT]!.settle(voucher, sigB), 'InvalidVoucherSigner')
    assert.is(await balanceOf(b.mesh.token, b.wallets[AGENT]!), balB)
    // each chain's own voucher is fine
    assert.is((await a.clients[AGENT]!.settle(voucher, sigA)).amount, tokens(1))
    assert.is((await b.clients[AGENT]!.settle(voucher, sigB)).amount, tokens(1))
  } finally {
    await stopChain(b)
  }
})

t('replay on another PaymentChannels contract with the same channel id and parties', async () => {
  const ctx = chain.ctx
  const first = firstChannel!
  const other = await deployContract('PaymentChannels', ctx.wallets[0]!, [ctx.mesh.addresses.token, 3600])
  const otherClientReq = await ChannelsClient.connect(await other.getAddress(), ctx.wallets[REQ]!)
  const otherClientAgent = await ChannelsClient.connect(await other.getAddress(), ctx.wallets[AGENT]!)
  const { channelId } = await otherClientReq.openChannel({ payee: ctx.wallets[AGENT]!.address, amount: tokens(10), expiry: (await now(ctx.provider)) + 3600n })
  assert.is(channelId, first.channelId, 'same channel id, same requester and payee')
  const voucher = v(channelId, tokens(2), 2n)
  const sig = first.signer.sign(voucher) // signed for the first contract
  await expectRevert(otherClientAgent.settle(voucher, sig), 'InvalidVoucherSigner')
  assert.is(await offChain(ctx, voucher, sig, otherClientAgent.hasher), 'InvalidVoucherSigner')
  assert.is((await otherClientAgent.getChannel(channelId)).paid, 0n)
})

t('replay on another channel of the same requester and payee', async () => {
  const ctx = chain.ctx
  const a = await open(ctx, REQ, AGENT)
  const b = await open(ctx, REQ, AGENT)
  const forA = v(a.channelId, tokens(3), 3n)
  const sig = a.signer.sign(forA)
  const onB = { ...forA, channelId: b.channelId }
  await expectRevert(ctx.clients[AGENT]!.settle(onB, sig), 'InvalidVoucherSigner')
  assert.is(await offChain(ctx, onB, sig), 'InvalidVoucherSigner')
  assert.is((await ctx.clients[AGENT]!.settle(forA, sig)).amount, tokens(3))
  assert.is((await ctx.clients[AGENT]!.getChannel(b.channelId)).paid, 0n)
})

t('the same voucher twice: the second reverts NothingToSettle and pays nothing', async () => {
  const ctx = chain.ctx
  const { channelId, signer } = await open(ctx, REQ, AGENT)
  const voucher = v(channelId, tokens(4), 40n, keccak256(toUtf8Bytes('batch')))
  const sig = signer.sign(voucher)
  assert.is(await offChain(ctx, voucher, sig), 'ok')
  await ctx.clients[AGENT]!.settle(voucher, sig)
  const bal = await balanceOf(ctx.mesh.token, ctx.wallets[AGENT]!)
  await expectRevert(ctx.clients[AGENT]!.settle(voucher, sig), 'NothingToSettle', [channelId, tokens(4), tokens(4)])
  await expectRevert(ctx.clients[AGENT]!.settleMany([{ ...voucher, signature: sig }]), 'NothingToSettle')
  assert.is(await offChain(ctx, voucher, sig), 'NothingToSettle')
  assert.is(await balanceOf(ctx.mesh.token, ctx.wallets[AGENT]!), bal)
})

t('high-s signature: rejected fresh (ECDSAInvalidSignatureS), and as a replay pays nothing', async () => {
  const ctx = chain.ctx
  const { channelId, signer } = await open(ctx, REQ, AGENT)
  const voucher = v(channelId, tokens(1), 1n)
  const low = signer.sign(voucher)
  const high = highS(low)
  const s = BigInt(Signature.from(low).s)
  await expectRevert(ctx.clients[AGENT]!.settle(voucher, high), 'ECDSAInvalidSignatureS', [toBeHex(SECP256K1_N - s, 32)])
  assert.is(await offChain(ctx, voucher, high), 'ECDSAInvalidSignatureS')
  // v = 0/1 instead of 27/28: ecrecover does not take it
  const v01 = concat([low.slice(0, 130), Signature.from(low).v === 27 ? '0x00' : '0x01'])
  await expectRevert(ctx.clients[AGENT]!.settle(voucher, v01), 'ECDSAInvalidSignature')
  assert.is(await offChain(ctx, voucher, v01), 'ECDSAInvalidSignature')
  await ctx.clients[AGENT]!.settle(voucher, low)
  await expectRevert(ctx.clients[AGENT]!.settle(voucher, high), 'NothingToSettle')
})

t('64-byte compact (ERC-2098) signature: OpenZeppelin 5 ECDSA refuses it (ECDSAInvalidSignatureLength)', async () => {
  const ctx = chain.ctx
  const { channelId, signer } = await open(ctx, REQ, AGENT)
  const voucher = v(channelId, tokens(1), 1n)
  const full = signer.sign(voucher)
  const compact = Signature.from(full).compactSerialized
  assert.is((compact.length - 2) / 2, 64)
  await expectRevert(ctx.clients[AGENT]!.settle(voucher, compact), 'ECDSAInvalidSignatureLength', [64n])
  assert.is(await offChain(ctx, voucher, compact), 'ECDSAInvalidSignatureLength')
  await ctx.clients[AGENT]!.settle(voucher, full)
  await expectRevert(ctx.clients[AGENT]!.settle(voucher, compact), 'NothingToSettle')
})

t('a contract that accepts BOTH encodings still pays each voucher once (cumulative accounting)', async () => {
  const ctx = chain.ctx
  const harness = await deployContract('CompactSigChannels', ctx.wallets[0]!, [ctx.mesh.addresses.token, 3600])
  const address = await harness.getAddress()
  const req = await ChannelsClient.connect(address, ctx.wallets[REQ]!)
  const agent = await ChannelsClient.connect(address, ctx.wallets[AGENT]!)
  const { channelId } = await req.openChannel({ payee: ctx.wallets[AGENT]!.address, amount: tokens(10), expiry: (await now(ctx.provider)) + 3600n })
  const signer = new FastVoucherSigner(ctx.wallets[REQ]!.privateKey, req.hasher)
  const start = await balanceOf(ctx.mesh.token, ctx.wallets[AGENT]!)

  // compact first, then the 65-byte form of the same signature
  const v1 = v(channelId, tokens(1), 1n)
  const full1 = signer.sign(v1)
  const compact1 = Signature.from(full1).compactSerialized
  assert.is((await agent.settle(v1, compact1)).amount, tokens(1), 'the harness accepts the compact form')
  await expectRevert(agent.settle(v1, full1), 'NothingToSettle', [channelId, tokens(1), tokens(1)])
  // 65-byte first, then compact
  const v2 = v(channelId, tokens(3), 3n)
  const full2 = signer.sign(v2)
  assert.is((await agent.settle(v2, full2)).amount, tokens(2))
  await expectRevert(agent.settle(v2, Signature.from(full2).compactSerialized), 'NothingToSettle')
  // both encodings in one batch
  const v3 = v(channelId, tokens(4), 4n)
  const full3 = signer.sign(v3)
  await expectRevert(agent.settleMany([{ ...v3, signature: full3 }, { ...v3, signature: Signature.from(full3).compactSerialized }]), 'NothingToSettle')

  assert.is(await balanceOf(ctx.mesh.token, ctx.wallets[AGENT]!), start + tokens(3), 'paid 1 + 2, never twice')
  assert.is((await agent.getChannel(channelId)).paid, tokens(3))
})

t('a voucher signed by someone else (a stranger, or the payee itself)', async () => {
  const ctx = chain.ctx
  const { channelId } = await open(ctx, REQ, AGENT)
  const voucher = v(channelId, tokens(5), 5n)
  for (const who of [OTHER, AGENT]) {
    const forger = new FastVoucherSigner(ctx.wallets[who]!.privateKey, ctx.clients[AGENT]!.hasher)
    const sig = forger.sign(voucher)
    await expectRevert(ctx.clients[AGENT]!.settle(voucher, sig), 'InvalidVoucherSigner', [channelId, ctx.wallets[who]!.address, ctx.wallets[REQ]!.address])
    assert.is(await offChain(ctx, voucher, sig), 'InvalidVoucherSigner')
  }
  assert.is((await ctx.clients[AGENT]!.getChannel(channelId)).paid, 0n)
})

t('a claim above the deposit reverts; after a top-up the same voucher settles', async () => {
  const ctx = chain.ctx
  const { channelId, signer } = await open(ctx, REQ, AGENT, tokens(10))
  const voucher = v(channelId, tokens(10) + 1n, 11n)
  const sig = signer.sign(voucher)
  await expectRevert(ctx.clients[AGENT]!.settle(voucher, sig), 'VoucherExceedsDeposit', [channelId, tokens(10) + 1n, tokens(10)])
  assert.is(await offChain(ctx, voucher, sig), 'VoucherExceedsDeposit')
  await ctx.clients[REQ]!.topUp(channelId, 1n)
  assert.is((await ctx.clients[AGENT]!.settle(voucher, sig)).amount, tokens(10) + 1n)
})

t('a stale voucher after a newer one pays nothing; a lower job count is refused', async () => {
  const ctx = chain.ctx
  const { channelId, signer } = await open(ctx, REQ, AGENT)
  const older = v(channelId, tokens(2), 20n)
  const newer = v(channelId, tokens(3), 30n)
  const olderSig = signer.sign(older)
  await ctx.clients[AGENT]!.settle(newer, signer.sign(newer))
  await expectRevert(ctx.clients[AGENT]!.settle(older, olderSig), 'NothingToSettle', [channelId, tokens(2), tokens(3)])
  assert.is(await offChain(ctx, older, olderSig), 'NothingToSettle')
  const fewerJobs = v(channelId, tokens(4), 29n)
  const fewerSig = signer.sign(fewerJobs)
  await expectRevert(ctx.clients[AGENT]!.settle(fewerJobs, fewerSig), 'JobCountDecreased', [channelId, 29n, 30n])
  assert.is(await offChain(ctx, fewerJobs, fewerSig), 'JobCountDecreased')
  assert.is((await ctx.clients[AGENT]!.getChannel(channelId)).paid, tokens(3))
})

t('garbage signatures: empty, 66 bytes, r = 0', async () => {
  const ctx = chain.ctx
  const { channelId, signer } = await open(ctx, REQ, AGENT)
  const voucher = v(channelId, tokens(1), 1n)
  const sig = signer.sign(voucher)
  await expectRevert(ctx.clients[AGENT]!.settle(voucher, '0x'), 'ECDSAInvalidSignatureLength', [0n])
  await expectRevert(ctx.clients[AGENT]!.settle(voucher, concat([sig, '0x00'])), 'ECDSAInvalidSignatureLength', [66n])
  const r0 = concat([ZeroHash, '0x' + sig.slice(66)])
  await expectRevert(ctx.clients[AGENT]!.settle(voucher, r0), 'ECDSAInvalidSignature')
  assert.is(await offChain(ctx, voucher, r0), 'ECDSAInvalidSignature')
})

test.run()

