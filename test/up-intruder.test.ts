/**
 * The `fogmesh up` row of issue 8's attack table: while `fogmesh up` runs (a
 * local chain, its gateway paying its agents), an outsider's agent copies an
 * honest agent's payment terms with its own payee and bids half its price.
 * It must win nothing and be paid nothing (no voucher, no channel). Since part A
 * `up`'s broker runs with identities on and admits only its own agents' keys, so
 * the fake is refused at the door and `up` runs on, every job its own; the
 * market's own defence behind it (a requester that admits only its agents
 * refuses other bids, names them, and `up` exits 1) is tested without a
 * broker's help in market/requester.test.ts ("admit restricts the requester").
 */
import { exited } from './support/child-processes.ts'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { Wallet } from 'ethers'
import { closeClient, collect, plainClient } from './support/mqtt-clients.ts'
import { fogmeshDaemon } from './support/fogmesh-cli.ts'
import { freePort } from './support/ports.ts'
import { RogueAgent } from './support/rogue-agent.ts'
import { waitFor } from './support/wait.ts'

test('`fogmesh up` with a fake payee bidding half: the fake is refused (at the broker now), not paid; up runs on', async () => {
  const port = await freePort()
  const up = await fogmeshDaemon(['up', '--agents', '2', '--port', String(port), '--duration', '10', '--interval', '100'], /^ready in \d+ ms$/m, { timeoutMs: 90_000 })
  const url = `mqtt://127.0.0.1:${port}`
  const watcher = await plainClient(url)
  let rogue: RogueAgent | undefined
  try {
    const got = collect(watcher)
    await watcher.subscribeAsync('fm/v1/agents/+/presence', { qos: 1 })
    const honest = await waitFor(() => got.map((m) => JSON.parse(m.payload.toString())).find((p) => p.status === 'online' && p.payment), 5000, "an honest agent's presence")
    const payee = Wallet.createRandom().address
    const refused = await RogueAgent.start(url, 'fake-fast', { price: Math.floor(honest.price.perJob / 2), slots: 4096, name: honest.name, payment: { ...honest.payment, payee } }).then(
      (r) => {
        rogue = r
        return undefined
      },
      (err: unknown) => err as Error,
    )
    assert.ok(refused, 'the fake agent is refused by the broker: its key is not one of up\'s agents')
    assert.match(refused!.message, /Not authorized|refused/)
    const code = await exited(up.proc, 60_000)
    const out = up.output()
    assert.is(code, 0, out)
    assert.match(out, /^jobs\s+\d+ sent, \d+ ok, 0 failed, 0 unanswered$/m, 'its own jobs all ran')
    assert.match(out, /^payments\s+/m)
    assert.not.match(out, new RegExp(payee, 'i'))
  } finally {
    await rogue?.close()
    await closeClient(watcher)
    up.proc.kill('SIGKILL')
  }
})

test.run()

