/**
 * Staked admission on a real chain: AgentRegistry on anvil, read by the broker
 * through `connectRegistryReader`. An agent whose ed25519 key is registered with
 * at least the registry's minimum stake joins; one without stake, or unbonding,
 * is refused (not authorized). Skipped without anvil unless CI is set.
 *
 *   node --import tsx broker/auth/registry-reader.test.ts
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import type { Contract, Wallet } from 'ethers'
import { createAgentToken } from '../../protocol/agent-token.ts'
import { agentIdFromPublicKey } from '../../protocol/agent-id.ts'
import { createSigner } from '../../protocol/signature.ts'
import { closeClient, plainClient } from '../../test/support/mqtt-clients.ts'
import { send, useChain } from '../../test/support/chain.ts'
import { testBroker } from '../../test/support/test-broker.ts'
import { meshKeyOf } from './admission.ts'
import { createBrokerAuth } from './broker-auth.ts'
import { connectRegistryReader } from './registry-reader.ts'

const chain = useChain(test)

async function stake(w: Wallet, publicKeyHex: string, amount: bigint): Promise<void> {
  const { mesh } = chain.ctx
  await send(mesh.token.connect(w) as Contract, 'approve', mesh.addresses.registry, amount)
  await send(mesh.registry.connect(w) as Contract, 'register', meshKeyOf(publicKeyHex), amount)
}

chain.test('staked admission: the registry’s minimum stake decides; unbonding takes the right away', async () => {
  const { node, mesh, wallets } = chain.ctx
  const reader = await connectRegistryReader(node.rpc, mesh.addresses.registry)
  assert.is(await reader.minStake(), mesh.settings.minStake)
  const [staked, unstaked] = [createSigner(Buffer.alloc(32, 11)), createSigner(Buffer.alloc(32, 12))]
  const hex = (s: typeof staked) => Buffer.from(s.publicKey).toString('hex')
  await stake(wallets[1]!, hex(staked), mesh.settings.minStake)
  const auth = createBrokerAuth({ agents: 'staked', registry: reader })
  const refusals: string[] = []
  auth.on('authRefused', (r) => refusals.push(r.reason))
  const broker = await testBroker({ auth })
  const join = (s: typeof staked) => plainClient(broker.url, { clientId: `fm-agent-${agentIdFromPublicKey(s.publicKey)}`, ...createAgentToken(s) })
  try {
    await closeClient(await join(staked))
    await join(unstaked).then((c) => (closeClient(c), assert.unreachable('no stake, no entry')), (e: { code?: number }) => assert.is(e.code, 5))
    assert.equal(refusals, ['not_admitted'])
    // unbonding: no longer active for the registry; a new broker (no cache) refuses it
    await send(mesh.registry.connect(wallets[1]!) as Contract, 'requestUnbond')
    const fresh = await testBroker({ auth: createBrokerAuth({ agents: 'staked', registry: reader }) })
    try {
      await plainClient(fresh.url, { clientId: `fm-agent-${agentIdFromPublicKey(staked.publicKey)}`, ...createAgentToken(staked) })
        .then((c) => (closeClient(c), assert.unreachable('unbonding')), (e: { code?: number }) => assert.is(e.code, 5))
    } finally {
      await fresh.close()
    }
  } finally {
    await broker.close()
    reader.close()
  }
})

chain.test('a registry that is not there is a clear error at start', async () => {
  const { node } = chain.ctx
  await connectRegistryReader(node.rpc, '0x000000000000000000000000000000000000dEaD').then(
    () => assert.unreachable('no contract'),
    (e: Error) => assert.match(e.message, /cannot read AgentRegistry at 0x000000000000000000000000000000000000dEaD/),
  )
})

test.run()
