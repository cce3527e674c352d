/**
 * Reentrancy through a hostile ERC-20 (contracts/src/test/HostileToken.sol) on a real anvil: a
 * token whose transfer out of PaymentChannels calls back into settle / settleMany /
 * finalizeClose, as the channel's payee or requester, and whose transfer out of AgentRegistry
 * calls back into withdraw. Nothing is paid twice. Also a
 * fee-on-transfer token, which the channels refuse at deposit time.
 *
 *   node --import tsx contracts/reentrancy.test.ts
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { ZeroHash, type Contract } from 'ethers'
import { FastVoucherSigner, type Voucher } from '../protocol/voucher.ts'
import { ChannelsClient } from './channels/channels-client.ts'
import { deployContract } from './deploy.ts'
import { balanceOf, errorsInterface, expectRevert, increaseTime, now, send, tokens, useChain } from '../test/support/chain.ts'

const chain = useChain(test)
const t = chain.test
const REQ = 1
const AGENT = 2

enum Attack {
  None = 0,
  Settle = 1,
  SettleMany = 2,
  FinalizeClose = 3,
  RegistryWithdraw = 4,
}

interface Hostile {
  token: Contract
  channels: Contract
  channelsAddress: string
  tokenAddress: string
}

async function deployHostile(): Promise<Hostile> {
  const { wallets } = chain.ctx
  const token = await deployContract('HostileToken', wallets[0]!)
  const tokenAddress = await token.getAddress()
  const channels = await deployContract('PaymentChannels', wallets[0]!, [tokenAddress, 600])
  const channelsAddress = await channels.getAddress()
  await send(token, 'setChannels', channelsAddress)
  for (const w of wallets.slice(0, 4)) await send(token, 'mint', w.address, tokens(1000))
  await send(token, 'mint', tokenAddress, tokens(1000)) // the token contract's own account
  return { token, channels, channelsAddress, tokenAddress }
}

async function reentryError(token: Contract): Promise<string | undefined> {
  const data = (await token.getFunction('lastReentryError')()) as string
  if (data === '0x') return undefined
  return (await errorsInterface()).parseError(data)?.name
}

t('payee re-enters settle (and settleMany) from the token transfer: paid once', async () => {
  const { wallets } = chain.ctx
  const h = await deployHostile()
  const req = await ChannelsClient.connect(h.channelsAddress, wallets[REQ]!)
  // the payee is the hostile token contract itself
  const { channelId } = await req.openChannel({ payee: h.tokenAddress, amount: tokens(10), expiry: (await now(chain.ctx.provider)) + 3600n })
  const signer = new FastVoucherSigner(wallets[REQ]!.privateKey, req.hasher)

  for (const [i, attack] of [Attack.Settle, Attack.SettleMany].entries()) {
    const voucher: Voucher = { channelId, cumulativeAmount: tokens(3 * (i + 1)), jobCount: BigInt(i + 1), resultsRoot: ZeroHash }
    const sig = signer.sign(voucher)
    await send(h.token, 'arm', attack, voucher, sig, channelId)
    const payeeBefore = await balanceOf(h.token, h.tokenAddress)
    const poolBefore = await balanceOf(h.token, h.channelsAddress)
    const attemptsBefore = (await h.token.getFunction('reentryAttempts')()) as bigint

    await send(h.token, 'settleAsPayee', voucher, sig)

    assert.is((await h.token.getFunction('reentryAttempts')()) as bigint, attemptsBefore + 1n, 're-entry was attempted')
    assert.is((await h.token.getFunction('reentrySuccesses')()) as bigint, 0n, 're-entry never succeeded')
    assert.is(await reentryError(h.token), 'ReentrancyGuardReentrantCall')
    assert.is(await balanceOf(h.token, h.tokenAddress), payeeBefore + tokens(3), 'paid the difference once')
    assert.is(await balanceOf(h.token, h.channelsAddress), poolBefore - tokens(3))
    assert.is((await req.getChannel(channelId)).paid, voucher.cumulativeAmount)
  }
})

t('requester re-enters finalizeClose from the refund transfer: refunded once', async () => {
  const { provider } = chain.ctx
  const h = await deployHostile()
  const expiry = (await now(provider)) + 100n
  await send(h.token, 'openAsRequester', chain.ctx.wallets[AGENT]!.address, tokens(10), expiry)
  const channelId = (await h.channels.getFunction('channelCount')()) as bigint
  await increaseTime(provider, 101)
  await send(h.token, 'startCloseAsRequester', channelId)
  await increaseTime(provider, 601)
  await send(h.token, 'arm', Attack.FinalizeClose, { channelId, cumulativeAmount: 0n, jobCount: 0n, resultsRoot: ZeroHash }, '0x', channelId)
  const before = await balanceOf(h.token, h.tokenAddress)

  await send(h.token, 'finalizeAsRequester', channelId)

  assert.is((await h.token.getFunction('reentrySuccesses')()) as bigint, 0n)
  assert.is(await reentryError(h.token), 'ReentrancyGuardReentrantCall')
  assert.is(await balanceOf(h.token, h.tokenAddress), before + tokens(10), 'refunded once')
  assert.is(await balanceOf(h.token, h.channelsAddress), 0n)
  const c = (await h.channels.getFunction('getChannel')(channelId)).toObject() as { finalized: boolean }
  assert.ok(c.finalized)
})

t('agent re-enters AgentRegistry.withdraw from the stake transfer: stake returned once', async () => {
  const { wallets, provider } = chain.ctx
  const h = await deployHostile()
  const registry = await deployContract('AgentRegistry', wallets[0]!, [h.tokenAddress, tokens(100), 60, wallets[0]!.address])
  const registryAddress = await registry.getAddress()
  await send(h.token, 'setRegistry', registryAddress)
  await send(h.token, 'mint', registryAddress, tokens(500)) // other agents' stake, as loot
  await send(h.token, 'registerAsAgent', `0x${'42'.repeat(32)}`, tokens(100))
  await send(h.token, 'requestUnbondAsAgent')
  await increaseTime(provider, 61)
  await send(h.token, 'arm', Attack.RegistryWithdraw, { channelId: 0n, cumulativeAmount: 0n, jobCount: 0n, resultsRoot: ZeroHash }, '0x', 0n)
  const before = await balanceOf(h.token, h.tokenAddress)

  await send(h.token, 'withdrawAsAgent')

  assert.is((await h.token.getFunction('reentryAttempts')()) as bigint, 1n)
  assert.is((await h.token.getFunction('reentrySuccesses')()) as bigint, 0n)
  assert.is(await reentryError(h.token), 'ReentrancyGuardReentrantCall')
  assert.is(await balanceOf(h.token, h.tokenAddress), before + tokens(100), 'stake returned once')
  assert.is(await balanceOf(h.token, registryAddress), tokens(500), 'the others\' stake is untouched')
})

t('the guard is released after each call: consecutive settlements on the hostile token work', async () => {
  const { wallets } = chain.ctx
  const h = await deployHostile()
  const req = await ChannelsClient.connect(h.channelsAddress, wallets[REQ]!)
  const agent = await ChannelsClient.connect(h.channelsAddress, wallets[AGENT]!)
  const { channelId } = await req.openChannel({ payee: wallets[AGENT]!.address, amount: tokens(5), expiry: (await now(chain.ctx.provider)) + 3600n })
  const signer = new FastVoucherSigner(wallets[REQ]!.privateKey, req.hasher)
  for (let i = 1n; i <= 3n; i++) {
    const voucher: Voucher = { channelId, cumulativeAmount: i, jobCount: i, resultsRoot: ZeroHash }
    assert.is((await agent.settle(voucher, signer.sign(voucher))).amount, 1n)
  }
})

t('a fee-on-transfer token is refused at deposit time (UnexpectedTransferAmount)', async () => {
  const { wallets } = chain.ctx
  const h = await deployHostile()
  await send(h.token, 'setShortDeliver', true)
  const req = await ChannelsClient.connect(h.channelsAddress, wallets[REQ]!)
  await expectRevert(
    req.openChannel({ payee: wallets[AGENT]!.address, amount: tokens(5), expiry: (await now(chain.ctx.provider)) + 3600n }),
    'UnexpectedTransferAmount',
    [tokens(5), tokens(5) - 1n],
  )
  assert.is(await balanceOf(h.token, h.channelsAddress), 0n)
  // the registry refuses it too
  const registry = await deployContract('AgentRegistry', wallets[0]!, [h.tokenAddress, 1n, 60, wallets[0]!.address])
  await send(h.token, 'setChannels', await registry.getAddress()) // "channels" = whichever contract it short-delivers to
  await send(h.token.connect(wallets[AGENT]!) as Contract, 'approve', await registry.getAddress(), tokens(5))
  await expectRevert((registry.connect(wallets[AGENT]!) as Contract).getFunction('register')(`0x${'ab'.repeat(32)}`, tokens(5)), 'UnexpectedTransferAmount')
})

test.run()

