/**
 * AgentRegistry on a real anvil: stake to join, one mesh key <-> one address, the unbonding delay
 * (with anvil's clock), and slashing by the slasher only.
 *
 *   node --import tsx contracts/registry/registry.test.ts
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { ZeroAddress, ZeroHash, hexlify, randomBytes, type Contract, type Wallet } from 'ethers'
import { deployContract } from '../deploy.ts'
import { balanceOf, expectRevert, increaseTime, send, setNextTimestamp, tokens, useChain } from '../../test/support/chain.ts'

const chain = useChain(test)
const t = chain.test
const SLASHER = 0 // the deployer is the slasher by default

const key = () => hexlify(randomBytes(32))

function as(w: Wallet): Contract {
  return chain.ctx.mesh.registry.connect(w) as Contract
}

async function join(w: Wallet, meshKey: string, amount: bigint) {
  const { mesh } = chain.ctx
  await send(mesh.token.connect(w) as Contract, 'approve', mesh.addresses.registry, amount)
  return send(as(w), 'register', meshKey, amount)
}

async function agent(w: Wallet) {
  const a = (await chain.ctx.mesh.registry.getFunction('getAgent')(w.address)).toObject() as { meshKey: string; stake: bigint; unbondingEndsAt: bigint }
  return { meshKey: a.meshKey, stake: a.stake, unbondingEndsAt: a.unbondingEndsAt }
}

const isActive = async (w: Wallet) => (await chain.ctx.mesh.registry.getFunction('isActive')(w.address)) as boolean

t('register: minimum stake, event, key bound to the payout address', async () => {
  const { wallets, mesh } = chain.ctx
  const w = wallets[1]!
  const min = mesh.settings.minStake
  const k = key()
  await send(mesh.token.connect(w) as Contract, 'approve', mesh.addresses.registry, min)
  await expectRevert(as(w).getFunction('register')(k, min - 1n), 'StakeTooLow', [min - 1n, min])
  await expectRevert(as(w).getFunction('register')(ZeroHash, min), 'ZeroMeshKey')
  const before = await balanceOf(mesh.token, w)
  const receipt = await send(as(w), 'register', k, min)
  const ev = receipt.logs.map((l) => mesh.registry.interface.parseLog(l)).find((e) => e?.name === 'AgentRegistered')
  assert.equal(ev?.args.map(String), [w.address, k, min].map(String))
  assert.is(await balanceOf(mesh.token, w), before - min)
  assert.equal(await agent(w), { meshKey: k, stake: min, unbondingEndsAt: 0n })
  assert.ok(await isActive(w))
  assert.is(await mesh.registry.getFunction('keyOwner')(k), w.address)
  assert.is(await mesh.registry.getFunction('activeAgentOf')(k), w.address)
  await expectRevert(as(w).getFunction('register')(key(), min), 'AlreadyRegistered', [w.address, k])
})

t('one key <-> one address: another address cannot take a bound key', async () => {
  const { wallets, mesh } = chain.ctx
  const [a, b] = [wallets[2]!, wallets[3]!]
  const k = key()
  await join(a, k, tokens(150))
  await send(mesh.token.connect(b) as Contract, 'approve', mesh.addresses.registry, tokens(150))
  await expectRevert(as(b).getFunction('register')(k, tokens(150)), 'KeyAlreadyBound', [k, a.address])
  await send(as(b), 'register', key(), tokens(150)) // with its own key it can
  assert.ok(await isActive(b))
})

t('addStake; unbonding delay: inactive at once, withdraw only after the delay', async () => {
  const { wallets, mesh, provider } = chain.ctx
  const w = wallets[4]!
  const k = key()
  const delay = BigInt(mesh.settings.unbondingDelay)
  await expectRevert(as(w).getFunction('requestUnbond')(), 'NotRegistered', [w.address])
  await join(w, k, tokens(100))
  await send(mesh.token.connect(w) as Contract, 'approve', mesh.addresses.registry, tokens(25))
  await send(as(w), 'addStake', tokens(25))
  await expectRevert(as(w).getFunction('addStake')(0n), 'ZeroAmount')
  assert.is((await agent(w)).stake, tokens(125))
  await expectRevert(as(w).getFunction('withdraw')(), 'NotUnbonding', [w.address])

  const receipt = await send(as(w), 'requestUnbond')
  const block = await provider.getBlock(receipt.blockNumber)
  const endsAt = BigInt(block!.timestamp) + delay
  assert.is((await agent(w)).unbondingEndsAt, endsAt)
  assert.not.ok(await isActive(w), 'inactive as soon as unbonding starts')
  assert.is(await mesh.registry.getFunction('activeAgentOf')(k), ZeroAddress)
  await expectRevert(as(w).getFunction('requestUnbond')(), 'AlreadyUnbonding', [w.address, endsAt])
  await expectRevert(as(w).getFunction('addStake')(1n), 'AlreadyUnbonding')

  await increaseTime(provider, delay - 10n)
  await expectRevert(as(w).getFunction('withdraw')(), 'UnbondingNotElapsed')
  await setNextTimestamp(provider, endsAt - 1n)
  await provider.send('evm_mine', [])
  await setNextTimestamp(provider, endsAt)
  const before = await balanceOf(mesh.token, w)
  await send(as(w), 'withdraw')
  assert.is(await balanceOf(mesh.token, w), before + tokens(125))
  assert.equal(await agent(w), { meshKey: ZeroHash, stake: 0n, unbondingEndsAt: 0n })
  await expectRevert(as(w).getFunction('withdraw')(), 'NotRegistered')

  // the key stays bound to this address: others cannot take it, the owner can come back with it
  const other = wallets[5]!
  await send(mesh.token.connect(other) as Contract, 'approve', mesh.addresses.registry, tokens(100))
  await expectRevert(as(other).getFunction('register')(k, tokens(100)), 'KeyAlreadyBound', [k, w.address])
  await join(w, k, tokens(100))
  assert.ok(await isActive(w))
})

t('slashing: only the slasher; stake moves to the slasher with an event; bounded by the stake', async () => {
  const { wallets, mesh } = chain.ctx
  const victim = wallets[6]!
  const slasher = wallets[SLASHER]!
  await join(victim, key(), tokens(200))
  const reason = key()
  for (const w of [victim, wallets[7]!, wallets[1]!]) {
    await expectRevert(as(w).getFunction('slash')(victim.address, tokens(1), reason), 'NotSlasher', [w.address])
  }
  assert.is(await mesh.registry.getFunction('slasher')(), slasher.address)
  await expectRevert(as(slasher).getFunction('slash')(victim.address, tokens(201), reason), 'SlashExceedsStake', [victim.address, tokens(201), tokens(200)])
  await expectRevert(as(slasher).getFunction('slash')(victim.address, 0n, reason), 'ZeroAmount')
  await expectRevert(as(slasher).getFunction('slash')(wallets[8]!.address, 1n, reason), 'NotRegistered')

  const before = await balanceOf(mesh.token, slasher)
  const receipt = await send(as(slasher), 'slash', victim.address, tokens(150), reason)
  const ev = receipt.logs.map((l) => mesh.registry.interface.parseLog(l)).find((e) => e?.name === 'Slashed')
  assert.equal(ev?.args.map(String), [victim.address, tokens(150), tokens(50), reason].map(String))
  assert.is(await balanceOf(mesh.token, slasher), before + tokens(150))
  assert.is((await agent(victim)).stake, tokens(50))
  assert.not.ok(await isActive(victim), 'below the minimum stake: inactive')
})

t('slashing reaches stake that is unbonding; withdraw returns the rest', async () => {
  const { wallets, mesh, provider } = chain.ctx
  const w = wallets[7]!
  await join(w, key(), tokens(300))
  await send(as(w), 'requestUnbond')
  await send(as(wallets[SLASHER]!), 'slash', w.address, tokens(100), key())
  await increaseTime(provider, mesh.settings.unbondingDelay)
  const before = await balanceOf(mesh.token, w)
  await send(as(w), 'withdraw')
  assert.is(await balanceOf(mesh.token, w), before + tokens(200))
})

t('deployment: the slasher cannot be the zero address', async () => {
  const { wallets, mesh } = chain.ctx
  await expectRevert(deployContract('AgentRegistry', wallets[0]!, [mesh.addresses.token, 1n, 60, ZeroAddress]), 'InvalidSlasher')
})

test.run()
