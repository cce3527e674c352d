/**
 * The in-memory AgentRegistry (twin of RegistryClient): stake, a key bound for good, the
 * unbonding delay on a manual clock, slashing by the slasher only. No chain needed (the same
 * rules against the contract: in-memory-vs-contract.test.ts).
 *
 *   node --import tsx contracts/registry/in-memory-registry.test.ts
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { computeAddress, encodeBytes32String, ZeroHash } from 'ethers'
import { ManualClock } from '../../protocol/manual-clock.ts'
import { devAccounts } from '../anvil.ts'
import { TxRevertedError } from '../chain-errors.ts'
import { DEPLOYER, InMemoryChain } from '../in-memory-chain.ts'

const [a, b] = devAccounts(2).map((k) => computeAddress(k)) as [string, string]
const KEY = encodeBytes32String('a mesh key')

async function revertName(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p
    return undefined
  } catch (e) {
    if (!(e instanceof TxRevertedError)) throw e
    return e.revert?.name
  }
}

test('stake to join, the key bound for good, unbonding on the clock, slashing by the slasher', async () => {
  const clock = new ManualClock(1_700_000_000_000)
  const chain = new InMemoryChain({ clock, minStake: 100n, unbondingDelay: 3600 })
  chain.mint(a, 1_000n)
  chain.mint(b, 1_000n)
  const ra = chain.registry(a)
  const rb = chain.registry(b)
  assert.is(await revertName(ra.register(KEY, 99n)), 'StakeTooLow')
  await ra.register(KEY, 150n)
  assert.equal(await ra.getAgent(a), { meshKey: KEY, stake: 150n, unbondingEndsAt: 0n })
  assert.ok(await ra.isActive(a))
  assert.is(await ra.activeAgentOf(KEY), a)
  assert.is(await revertName(rb.register(KEY, 150n)), 'KeyAlreadyBound')
  assert.is(chain.balanceOf(chain.addresses.registry), 150n)

  const { unbondingEndsAt } = await ra.requestUnbond()
  assert.is(unbondingEndsAt, chain.timestamp + 3600n)
  assert.not.ok(await ra.isActive(a), 'inactive at once')
  assert.is(await ra.activeAgentOf(KEY), null)
  await clock.advance(3_599_000)
  assert.is(await revertName(ra.withdraw()), 'UnbondingNotElapsed')
  assert.is(await revertName(rb.slash(a, 50n, ZeroHash)), 'NotSlasher')
  assert.equal((await chain.registry(DEPLOYER).slash(a, 50n, encodeBytes32String('bad result'))).remainingStake, 100n)
  assert.is(chain.balanceOf(DEPLOYER), 50n, 'slashed stake goes to the slasher')
  await clock.advance(1_000)
  assert.equal((await ra.withdraw()).amount, 100n)
  assert.equal(await ra.getAgent(a), { meshKey: ZeroHash, stake: 0n, unbondingEndsAt: 0n })
  assert.is(await ra.keyOwner(KEY), a, 'the key stays bound')
  assert.is(await revertName(rb.register(KEY, 150n)), 'KeyAlreadyBound')
  await ra.register(KEY, 100n)
  assert.is(chain.balanceOf(a), 1_000n - 150n + 100n - 100n)
})

test.run()
