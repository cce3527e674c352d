/**
 * Governance end to end on a real anvil: MeshToken votes (timestamp clock), a MeshGovernor proposal
 * that raises the minimum stake, the vote, the TimelockController delay, execution — and the court
 * follows (an agent staked at the old minimum leaves the market). Time moves with evm_increaseTime.
 *
 *   node --import tsx contracts/governance/governor.test.ts
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { expectRevert, increaseTime, tokens } from '../../test/support/chain.ts'
import { stakedAccount, useVerifiedChain } from '../../test/support/verified-chain.ts'
import { GovernanceClient } from './governance-client.ts'

const VOTING_DELAY = 60
const VOTING_PERIOD = 3600
const TIMELOCK_DELAY = 600
const chain = useVerifiedChain(test, {
  accounts: 8,
  governance: { votingDelay: VOTING_DELAY, votingPeriod: VOTING_PERIOD, timelockDelay: TIMELOCK_DELAY, quorumPercent: 4 },
  params: { minStake: tokens(100) },
})
const t = chain.test

const gov = (i: number) => GovernanceClient.connect(chain.ctx.v.addresses, chain.ctx.wallets[i]!)

t('the token is ERC20Votes on a timestamp clock; votes count once delegated', async () => {
  const ctx = chain.ctx
  const token = ctx.v.mesh.token
  assert.is(await token.getFunction('CLOCK_MODE')(), 'mode=timestamp')
  const block = await ctx.provider.getBlock('latest')
  assert.is(Number(await token.getFunction('clock')()), block!.timestamp)
  const g1 = await gov(1)
  assert.is(await g1.votingPower(), 0n)
  await g1.delegate()
  assert.is(await g1.votingPower(), tokens(1_000_000))
  await (await gov(2)).delegate()
})

t('a proposal raises the minimum stake: pending, active, voted, succeeded, queued, executed; the court follows', async () => {
  const ctx = chain.ctx
  const low = await stakedAccount(ctx, 4, tokens(100))
  const high = await stakedAccount(ctx, 5, tokens(250))
  assert.ok(await low.court.isEligible(low.wallet.address))
  const g1 = await gov(1)
  const g2 = await gov(2)
  const { proposalId } = await g1.proposeParams({ minStake: tokens(200) }, 'Raise the minimum stake to 200 MESH')
  assert.is(await g1.state(proposalId), 'pending')
  await expectRevert(g1.vote(proposalId, 'for'), 'GovernorUnexpectedProposalState')
  await increaseTime(ctx.provider, VOTING_DELAY + 1)
  assert.is(await g1.state(proposalId), 'active')
  await g1.vote(proposalId, 'for', 'agents with skin in the game')
  await g2.vote(proposalId, 'abstain')
  await expectRevert(g1.vote(proposalId, 'for'), 'GovernorAlreadyCastVote')
  const during = await g1.status(proposalId)
  assert.equal(during.votes, { against: 0n, for: tokens(1_000_000), abstain: tokens(1_000_000) })
  assert.equal(during.changes, [{ name: 'minStake', value: tokens(200) }])
  await expectRevert(g1.queue(proposalId), 'GovernorUnexpectedProposalState')
  await increaseTime(ctx.provider, VOTING_PERIOD + 1)
  assert.is(await g1.state(proposalId), 'succeeded')
  const { eta } = await g1.queue(proposalId)
  assert.is(await g1.state(proposalId), 'queued')
  assert.ok(eta > 0n)
  await expectRevert(g1.execute(proposalId), 'TimelockUnexpectedOperationState')
  assert.is(await ctx.v.params.getFunction('minStake')(), tokens(100), 'nothing changes before the delay')
  await increaseTime(ctx.provider, TIMELOCK_DELAY + 1)
  await (await gov(3)).execute(proposalId) // anyone may execute
  assert.is(await g1.state(proposalId), 'executed')
  assert.is(await ctx.v.params.getFunction('minStake')(), tokens(200))
  assert.not.ok(await low.court.isEligible(low.wallet.address), 'staked 100 < 200: out of the market')
  assert.ok(await high.court.isEligible(high.wallet.address), 'staked 250: still in')
  assert.is((await low.court.standing(low.wallet.address)).minStake, tokens(200))
})

t('a proposal voted down is defeated and cannot be queued; a bound the contract refuses fails at execution', async () => {
  const ctx = chain.ctx
  const g1 = await gov(1)
  const g2 = await gov(2)
  const { proposalId } = await g2.proposeParams({ spotCheckBps: 9000 }, 'Check nine results in ten')
  await increaseTime(ctx.provider, VOTING_DELAY + 1)
  await g1.vote(proposalId, 'against')
  await increaseTime(ctx.provider, VOTING_PERIOD + 1)
  assert.is(await g1.state(proposalId), 'defeated')
  await expectRevert(g1.queue(proposalId), 'GovernorUnexpectedProposalState')

  // quorumMinAgents below 3 would let two colluders slash: the parameters contract refuses it
  const bad = await g1.proposeParams({ quorumMinAgents: 2 }, 'Quorum of two')
  await increaseTime(ctx.provider, VOTING_DELAY + 1)
  await g1.vote(bad.proposalId, 'for')
  await increaseTime(ctx.provider, VOTING_PERIOD + 1)
  await g1.queue(bad.proposalId)
  await increaseTime(ctx.provider, TIMELOCK_DELAY + 1)
  await expectRevert(g1.execute(bad.proposalId), 'OutOfRange')
  assert.is(Number((await ctx.v.params.getFunction('get')()).quorumMinAgents), 3)
})

t.run()
