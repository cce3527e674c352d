/**
 * The chain from the command line, on a real anvil: `fogmesh chain deploy`
 * from an encrypted keystore, and an agent that takes payment with
 * `--rpc --channels --keystore` (its payment terms appear in its presence).
 */
import { spawn, spawnSync } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { encryptKeystoreJson, Wallet } from 'ethers'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { findAnvil, startAnvil } from '../contracts/anvil.ts'
import { collect, plainClient } from './support/mqtt-clients.ts'
import { ROOT } from './support/paths.ts'
import { testUnless } from './support/programs.ts'
import { tmpDir } from './support/temp-dirs.ts'
import { testBroker } from './support/test-broker.ts'
import { waitFor } from './support/wait.ts'

const PASSWORD = 'correct horse battery staple'

/** Without anvil the test is skipped, unless CI is set: then startAnvil fails it. */
const chainTest = testUnless(test, findAnvil() ? undefined : 'anvil not found')

chainTest('chain deploy from a keystore, then an agent paid through it', async () => {
  const anvil = await startAnvil({ accounts: 3 })
  const broker = await testBroker()
  const dir = tmpDir()
  let agent: ReturnType<typeof spawn> | undefined
  try {
    const keystores = await Promise.all(
      [0, 2].map(async (i) => {
        const path = join(dir, `key-${i}.json`)
        const w = new Wallet(anvil.accounts[i]!)
        // a light scrypt: the test is about the flow, not about key stretching
        writeFileSync(path, await encryptKeystoreJson({ address: w.address, privateKey: w.privateKey }, PASSWORD, { scrypt: { N: 1 << 12 } }))
        return path
      }),
    )
    const env = { ...process.env, FOGMESH_KEYSTORE_PASSWORD: PASSWORD, FOGMESH_HOME: dir }
    const deploy = spawnSync(process.execPath, ['bin/fogmesh.js', 'chain', 'deploy', '--rpc', anvil.rpc, '--keystore', keystores[0]!], { cwd: ROOT, env, encoding: 'utf8' })
    assert.is(deploy.status, 0, deploy.stderr)
    const addresses = JSON.parse(deploy.stdout) as { chainId: number; token: string; registry: string; channels: string }
    assert.is(addresses.chainId, anvil.chainId)
    for (const a of [addresses.token, addresses.registry, addresses.channels]) assert.match(a, /^0x[0-9a-fA-F]{40}$/)

    const wrong = spawnSync(process.execPath, ['bin/fogmesh.js', 'chain', 'deploy', '--rpc', anvil.rpc, '--keystore', keystores[0]!], { cwd: ROOT, env: { ...env, FOGMESH_KEYSTORE_PASSWORD: 'nope' }, encoding: 'utf8' })
    assert.is(wrong.status, 2)
    assert.match(wrong.stderr.trim(), /^fogmesh: keystore .*wrong password/)
    assert.is(wrong.stderr.trim().split('\n').length, 1)

    agent = spawn(process.execPath, ['bin/fogmesh.js', 'agent', '--broker', broker.url, '--name', 'paid', '--data', join(dir, 'agent'), '--rpc', anvil.rpc, '--channels', addresses.channels, '--keystore', keystores[1]!], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] })
    const c = await plainClient(broker.url)
    const got = collect(c)
    await c.subscribeAsync('fm/v1/agents/+/presence')
    await waitFor(() => got.length > 0, 15_000, 'the agent presence')
    const p = JSON.parse(got[0]!.payload.toString())
    assert.equal(p.payment, { chainId: anvil.chainId, channels: addresses.channels, payee: new Wallet(anvil.accounts[2]!).address })
    await c.endAsync()
  } finally {
    agent?.kill('SIGTERM')
    await broker.close()
    await anvil.stop()
  }
})

test.run()
