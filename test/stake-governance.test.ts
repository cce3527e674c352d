/**
 * Stake and governance from the command line, on a real anvil, with a real agent process:
 * `fogmesh chain deploy` (the governed mesh), `fogmesh stake`, an agent advertising its stake,
 * `fogmesh status --rpc` showing it, a requester with the court assigning it; then a governance
 * proposal (`fogmesh gov delegate|propose|vote|queue|execute|status`, time moved with
 * evm_increaseTime) raises the minimum stake and the market follows: the agent is out until it
 * stakes more; `fogmesh unstake` takes it out again. A requester without a chain keeps working
 * without stake. User errors are one line and exit 2.
 *
 *   node --import tsx test/stake-governance.test.ts
 */
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Contract, encryptKeystoreJson, parseUnits, Wallet } from 'ethers'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { findAnvil, startAnvil, type Anvil } from '../contracts/anvil.ts'
import { loadArtifact } from '../contracts/artifacts.ts'
import { connectRpc } from '../contracts/deploy.ts'
import { sendWithMargin } from '../contracts/gas-margin.ts'
import { CourtClient } from '../contracts/verification/court-client.ts'
import type { Broker } from '../broker/broker.ts'
import { startRequester } from '../market/requester.ts'
import { loadModule } from '../wasm-modules/index.ts'
import { assertUserError, fogmeshDaemon, runFogmesh, showRun, type Daemon } from './support/fogmesh-cli.ts'
import { testUnless } from './support/programs.ts'
import { tmpDir } from './support/temp-dirs.ts'
import { testBroker } from './support/test-broker.ts'

const PASSWORD = 'correct horse battery staple'
const t = testUnless(test, findAnvil() ? undefined : 'anvil not found')

let anvil: Anvil
let broker: Broker
let agent: Daemon | undefined
const dir = tmpDir('fm-stake-')
const env = { env: { FOGMESH_KEYSTORE_PASSWORD: PASSWORD }, home: dir }
const keystore = (i: number) => join(dir, `key-${i}.json`)
let addr: { chainId: number; token: string; registry: string; channels: string; params: string; court: string; governor: string; timelock: string }

t.before(async () => {
  anvil = await startAnvil({ accounts: 4 })
  broker = await testBroker()
  for (const i of [0, 1, 2]) {
    const w = new Wallet(anvil.accounts[i]!)
    writeFileSync(keystore(i), await encryptKeystoreJson({ address: w.address, privateKey: w.privateKey }, PASSWORD, { scrypt: { N: 1 << 12 } }))
  }
})
t.after(async () => {
  agent?.proc.kill('SIGTERM')
  await broker?.close()
  await anvil?.stop()
})

async function increaseTime(seconds: number): Promise<void> {
  const p = await connectRpc(anvil.rpc)
  await p.send('evm_increaseTime', [seconds])
  await p.send('evm_mine', [])
  p.destroy()
}

const fogmesh = async (args: string[]) => {
  const r = await runFogmesh(args, { ...env, timeoutMs: 60_000 })
  assert.is(r.code, 0, showRun(r))
  return r.stdout
}
const chain = () => ['--rpc', anvil.rpc, '--court', addr.court]
const gov = (i: number) => ['--rpc', anvil.rpc, '--keystore', keystore(i), '--governor', addr.governor, '--params', addr.params]

t('deploy the governed mesh; stake an agent; it advertises the stake; status and a staked requester see it', async () => {
  addr = JSON.parse(await fogmesh(['chain', 'deploy', '--rpc', anvil.rpc, '--keystore', keystore(0), '--min-stake', '100', '--voting-delay', '60', '--voting-period', '600', '--timelock-delay', '60']))
  for (const k of ['token', 'registry', 'channels', 'params', 'court', 'governor', 'timelock'] as const) assert.match(addr[k], /^0x[0-9a-fA-F]{40}$/, k)
  // the deployer owns the token on a local chain: MESH for the agent's owner and for a voter
  const provider = await connectRpc(anvil.rpc)
  const token = new Contract(addr.token, (await loadArtifact('MeshToken')).abi, new Wallet(anvil.accounts[0]!, provider))
  for (const i of [1, 2]) await sendWithMargin(token, 'mint', [new Wallet(anvil.accounts[i]!).address, parseUnits('1000', 18)])
  provider.destroy()

  const staked = await fogmesh(['stake', '--amount', '100', ...chain(), '--keystore', keystore(1), '--data', join(dir, 'agent')])
  assert.match(staked, /^registered 100\.0 MESH for agent [0-9a-f]{20} as 0x[0-9a-fA-F]{40}; attester 0x[0-9a-fA-F]{40} bound$/m)
  assert.match(staked, /stake now 100\.0 MESH \(minimum 100\.0 MESH\): in the market/)
  agent = await fogmeshDaemon(['agent', '--broker', broker.url, '--name', 'staked', '--data', join(dir, 'agent'), ...chain(), '--keystore', keystore(1), '--isolation', 'thread', '--accept-from', 'any'], /^stake {4}account (0x[0-9a-fA-F]{40}) in court/m, env)
  const status = JSON.parse(await fogmesh(['status', '--broker', broker.url, '--rpc', anvil.rpc, '--json', '--listen', '1500'])) as Array<{ name: string; stake?: { account: string }; standing?: { eligible: boolean; stake: string; verified: boolean } }>
  const row = status.find((r) => r.name === 'staked')!
  assert.is(row.stake?.account, agent.match[1])
  assert.equal([row.standing?.eligible, row.standing?.verified, row.standing?.stake], [true, true, parseUnits('100', 18).toString()])
  const text = await fogmesh(['status', '--broker', broker.url, '--rpc', anvil.rpc])
  assert.match(text, /STAKE/)
  assert.match(text, /staked .* 100\.0 MESH$/m)
})

t('a proposal raises the minimum stake to 150 MESH: the market drops the agent until it stakes more; unstake takes it out', async () => {
  const provider = await connectRpc(anvil.rpc)
  const court = await CourtClient.connect(addr.court, new Wallet(anvil.accounts[3]!, provider))
  const req = await startRequester({ broker: broker.url, verification: { court, spotCheck: 0, stake: { pollMs: 100 } } })
  try {
    await req.directory.waitFor(1, 10_000)
    const module = await req.publishModule(await loadModule('sha256'))
    const before = await req.submit({ id: 'g1', module, input: Buffer.from('a') })
    assert.is(before.status, 'ok', JSON.stringify(before.error))

    assert.match(await fogmesh(['gov', 'delegate', ...gov(2)]), /voting power of 0x[0-9a-fA-F]{40}: 1000\.0 MESH/)
    const proposed = await fogmesh(['gov', 'propose', '--set', 'minStake=150', '--description', 'Raise the minimum stake to 150 MESH', ...gov(2)])
    const id = /^proposal (\d+)$/m.exec(proposed)![1]!
    assert.match(proposed, /pending {2}minStake=150\.0 MESH/)
    await increaseTime(61)
    assert.match(await fogmesh(['gov', 'vote', '--proposal', id, '--support', 'for', ...gov(2)]), /^voted for on \d+ with 1000\.0 MESH$/m)
    await increaseTime(601)
    assert.match(await fogmesh(['gov', 'queue', '--proposal', id, ...gov(2)]), /^queued \d+: executable from /m)
    await increaseTime(61)
    assert.match(await fogmesh(['gov', 'execute', '--proposal', id, ...gov(2)]), /executed/)
    const s = JSON.parse(await fogmesh(['gov', 'status', '--json', '--rpc', anvil.rpc, '--governor', addr.governor, '--params', addr.params]))
    assert.is(s.params.minStake, parseUnits('150', 18).toString())
    assert.is(s.proposals[0].state, 'executed')

    // the market follows: parameter change -> the filter re-reads every standing
    await req.verifier.stake!.refresh()
    const after = await req.submit({ id: 'g2', module, input: Buffer.from('b') })
    assert.is(after.error?.code, 'no_agents', 'staked 100 < 150: out of the market')
    assert.match(await fogmesh(['status', '--broker', broker.url, '--rpc', anvil.rpc]), /100\.0 MESH \(out\)$/m)
    assert.match(await fogmesh(['stake', '--amount', '60', ...chain(), '--keystore', keystore(1), '--data', join(dir, 'agent')]), /stake now 160\.0 MESH \(minimum 150\.0 MESH\): in the market/)
    await req.verifier.stake!.refresh()
    assert.is((await req.submit({ id: 'g3', module, input: Buffer.from('c') })).status, 'ok', 'back in with 160')

    // a requester without a chain keeps working without stake; it cannot honour minStake
    const plain = await startRequester({ broker: broker.url })
    try {
      await plain.directory.waitFor(1, 10_000)
      assert.is((await plain.submit({ id: 'p1', module, input: Buffer.from('d') })).status, 'ok')
      assert.is((await plain.submit({ id: 'p2', module, input: Buffer.from('e'), constraints: { minStake: '1' } })).error?.code, 'no_agents')
    } finally {
      await plain.close()
    }

    assert.match(await fogmesh(['unstake', ...chain(), '--keystore', keystore(1)]), /^unbonding 160\.0 MESH of 0x[0-9a-fA-F]{40}: out of the market now; withdraw after /m)
    await req.verifier.stake!.refresh()
    assert.is((await req.submit({ id: 'g4', module, input: Buffer.from('f') })).error?.code, 'no_agents')
  } finally {
    await req.close()
    provider.destroy()
  }
})

t('user errors are one line and exit 2', async () => {
  const cases: Array<[string[], RegExp, string]> = [
    [['stake', ...chain(), '--keystore', keystore(1), '--data', join(dir, 'agent')], /--amount takes MESH/, 'stake without --amount'],
    [['stake', '--amount', '1', '--rpc', anvil.rpc, '--court', '0x1234', '--keystore', keystore(1), '--name', 'x'], /--court must be an 0x address/, 'a bad court address'],
    [['gov', 'vote', '--proposal', '1', '--support', 'maybe', ...gov(2)], /--support is for, against or abstain/, 'a bad vote'],
    [['gov', 'propose', '--set', 'quorum=1', '--description', 'x', ...gov(2)], /--set takes name=value/, 'an unknown parameter'],
    [['gov'], /fogmesh gov takes a subcommand/, 'gov alone'],
    [['agent', '--broker', broker.url, '--account', '0x' + '11'.repeat(20)], /--account goes with --court/, 'an account without a court'],
  ]
  // side by side: each is a node start, and none changes the chain
  const runs = await Promise.all(cases.map(([args]) => runFogmesh(args, env)))
  runs.forEach((r, i) => assertUserError(r, cases[i]![1], cases[i]![2], 2))
})

t.run()
