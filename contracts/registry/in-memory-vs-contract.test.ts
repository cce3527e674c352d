/**
 * The in-memory AgentRegistry answers as the contract does: the same script (stake, key binding,
 * unbonding on the clock, slashing) on RegistryClient over anvil and on InMemoryRegistry, at the
 * same block timestamps; equal outcomes (results or custom errors with arguments), equal views
 * after every step, equal balances.
 *
 *   node --import tsx contracts/registry/in-memory-vs-contract.test.ts
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { MaxUint256, encodeBytes32String, type Contract } from 'ethers'
import { ManualClock } from '../../protocol/manual-clock.ts'
import { balanceOf, now, outcomeOf, send, setNextTimestamp, useChain } from '../../test/support/chain.ts'
import { InMemoryChain } from '../in-memory-chain.ts'
import type { AgentRegistry } from './agent-registry.ts'
import { RegistryClient } from './registry-client.ts'

const chain = useChain(test, { accounts: 4, deploy: { unbondingDelay: 600 } })
const SLASHER = 0
const A = 1
const B = 2
const C = 3 // approves nothing

chain.test('the same script on anvil and in memory: equal outcomes, agents and balances', async () => {
  const { wallets, mesh, provider } = chain.ctx
  const start = await now(provider)
  const twin = new InMemoryChain({ chainId: mesh.chainId, clock: new ManualClock(Number(start) * 1000), addresses: mesh.addresses, ...mesh.settings })
  for (const w of wallets) twin.mint(w.address, await balanceOf(mesh.token, w))
  for (const i of [A, B]) {
    await send(mesh.token.connect(wallets[i]!) as Contract, 'approve', mesh.addresses.registry, MaxUint256)
    twin.approve(wallets[i]!.address, mesh.addresses.registry, MaxUint256)
  }
  const clients = await Promise.all(wallets.map((w) => RegistryClient.connect(mesh.addresses.registry, w)))
  const sides = [
    { as: (i: number): AgentRegistry => clients[i]!, at: (t: bigint) => setNextTimestamp(provider, t), balance: (who: string) => balanceOf(mesh.token, who) },
    { as: (i: number): AgentRegistry => twin.registry(wallets[i]!.address), at: async (t: bigint) => twin.setNextBlockTimestamp(t), balance: async (who: string) => twin.balanceOf(who) },
  ]
  const min = mesh.settings.minStake
  const keyA = encodeBytes32String('mesh key of A')
  const keyB = encodeBytes32String('mesh key of B')
  const zero = `0x${'00'.repeat(32)}`
  const reason = encodeBytes32String('wrong result')
  let t = start + 100n
  const next = (dt = 3n) => (t += dt)
  const unbondAt = start + 200n
  type Step = [string, bigint, (r: AgentRegistry) => Promise<string>]
  const steps: Step[] = [
    ['register below the minimum', next(), (r) => outcomeOf(r.register(keyA, min - 1n, false))],
    ['register a zero key', next(), (r) => outcomeOf(r.register(zero, min, false))],
    ['register unapproved', next(), (r) => outcomeOf(r.register(keyA, min, false))],
    ['register', next(), (r) => outcomeOf(r.register(keyA, min, false))],
    ['register again', next(), (r) => outcomeOf(r.register(keyB, min, false))],
    ['add nothing', next(), (r) => outcomeOf(r.addStake(0n, false))],
    ['add stake', next(), (r) => outcomeOf(r.addStake(min, false))],
    ['slash by another', next(), (r) => outcomeOf(r.slash(wallets[A]!.address, 1n, reason), (x) => x.remainingStake)],
    ['unbond unregistered', next(), (r) => outcomeOf(r.requestUnbond(), (x) => x.unbondingEndsAt)],
    ['withdraw not unbonding', next(), (r) => outcomeOf(r.withdraw(), (x) => x.amount)],
    ['request unbond', unbondAt, (r) => outcomeOf(r.requestUnbond(), (x) => x.unbondingEndsAt)],
    ['add stake while unbonding', unbondAt + 1n, (r) => outcomeOf(r.addStake(1n, false))],
    ['unbond again', unbondAt + 2n, (r) => outcomeOf(r.requestUnbond(), (x) => x.unbondingEndsAt)],
    ['withdraw too early', unbondAt + 599n, (r) => outcomeOf(r.withdraw(), (x) => x.amount)],
    ['slash above the stake', unbondAt + 600n, (r) => outcomeOf(r.slash(wallets[A]!.address, 3n * min, reason), (x) => x.remainingStake)],
    ['slash nothing', unbondAt + 601n, (r) => outcomeOf(r.slash(wallets[A]!.address, 0n, reason), (x) => x.remainingStake)],
    ['slash an unknown agent', unbondAt + 602n, (r) => outcomeOf(r.slash(wallets[C]!.address, 1n, reason), (x) => x.remainingStake)],
    ['slash while unbonding', unbondAt + 603n, (r) => outcomeOf(r.slash(wallets[A]!.address, min / 2n, reason), (x) => x.remainingStake)],
    ['withdraw', unbondAt + 604n, (r) => outcomeOf(r.withdraw(), (x) => x.amount)],
    ['the key is A\'s for good', unbondAt + 605n, (r) => outcomeOf(r.register(keyA, min, false))],
    ['A comes back with it', unbondAt + 606n, (r) => outcomeOf(r.register(keyA, min, false))],
  ]
  const who = [A, A, C, A, A, A, A, B, B, A, A, A, A, A, SLASHER, SLASHER, SLASHER, SLASHER, A, B, A]
  assert.is(who.length, steps.length)
  const seen = new Set<string>()
  for (const [i, [what, at, call]] of steps.entries()) {
    const outcomes: string[] = []
    for (const side of sides) {
      await side.at(at)
      outcomes.push(await call(side.as(who[i]!)))
    }
    assert.is(outcomes[1], outcomes[0], `${what}: in memory as on anvil`)
    seen.add(outcomes[0]!.replace(/\(.*$/, '').split(' ')[0]!)
    for (const w of [A, B, C]) {
      const address = wallets[w]!.address
      const [real, memory] = sides.map((s) => s.as(A))
      assert.equal(await memory!.getAgent(address), await real!.getAgent(address), `${what}: agent ${w}`)
      assert.is(await memory!.isActive(address), await real!.isActive(address), `${what}: active ${w}`)
    }
    for (const k of [keyA, keyB]) {
      const [real, memory] = sides.map((s) => s.as(A))
      assert.is(await memory!.keyOwner(k), await real!.keyOwner(k), `${what}: owner of ${k}`)
      assert.is(await memory!.activeAgentOf(k), await real!.activeAgentOf(k), `${what}: active agent of ${k}`)
    }
  }
  for (const w of [...wallets.map((x) => x.address), mesh.addresses.registry]) {
    assert.is(await sides[1]!.balance(w), await sides[0]!.balance(w), `balance of ${w}`)
  }
  for (const name of ['ok', 'StakeTooLow', 'ZeroMeshKey', 'ERC20InsufficientAllowance', 'AlreadyRegistered', 'ZeroAmount', 'NotSlasher', 'NotRegistered', 'NotUnbonding', 'AlreadyUnbonding', 'UnbondingNotElapsed', 'SlashExceedsStake', 'KeyAlreadyBound']) {
    assert.ok(seen.has(name), `the script reached ${name}`)
  }
})

test.run()
