/**
 * The `fogmesh up` row of issue 8's attack table: while `fogmesh up` runs (a
 * local chain, its gateway paying its agents), an outsider's agent copies an
 * honest agent's payment terms with its own payee and bids half its price.
 * It must win nothing and be paid nothing (no voucher, no channel), and `up`
 * must exit non-zero naming it.
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

test('`fogmesh up` with a fake payee bidding half: the fake is refused, not paid, and up exits 1 naming it', async () => {
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
    rogue = await RogueAgent.start(url, 'fake-fast', { price: Math.floor(honest.price.perJob / 2), slots: 4096, name: honest.name, payment: { ...honest.payment, payee } })
    const vouchers = collect(watcher)
    await watcher.subscribeAsync(`fm/v1/agents/${rogue.id}/vouchers`, { qos: 1 })
    const code = await exited(up.proc, 60_000)
    const out = up.output()
    assert.is(code, 1, out)
    assert.ok(rogue.bids > 0, 'it bid')
    assert.is(rogue.assigned, 0, 'it won nothing')
    assert.equal(vouchers.filter((m) => m.topic.endsWith('/vouchers')), [], 'no voucher: nothing to settle on chain')
    const line = out.split('\n').find((l) => l.startsWith('refused') && l.includes(rogue!.id))
    assert.ok(line, `up names it\n${out}`)
    assert.match(line!, /not one of ours/)
    assert.match(line!, /\d+ bids \(not admitted\); not used, not paid/)
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

