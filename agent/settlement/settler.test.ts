import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { FastVoucherSigner } from '../../protocol/voucher.ts'
import { balanceOf, increaseTime, useChain } from '../../test/support/chain.ts'
import { tmpDir } from '../../test/support/temp-dirs.ts'
import { channelKey, VoucherJournal } from './journal.ts'
import { Settler, type ReceivedVoucher } from './settler.ts'

const chain = useChain(test, { accounts: 4 })

async function openChannel(deposit: bigint) {
  const { clients, wallets } = chain.ctx
  const requester = clients[1]!
  const agent = wallets[2]!
  const block = await chain.ctx.provider.getBlock('latest')
  const { channelId } = await requester.openChannel({ payee: agent.address, amount: deposit, expiry: BigInt(block!.timestamp) + 86_400n })
  const signer = new FastVoucherSigner(chain.ctx.node.accounts[1]!, requester.hasher)
  const voucher = (cumulative: bigint, jobs: bigint): ReceivedVoucher => {
    const v = { channelId, cumulativeAmount: cumulative, resultsRoot: `0x${randomBytes(32).toString('hex')}`, jobCount: jobs }
    return { ...v, signature: signer.sign(v) }
  }
  return { channelId, voucher }
}

chain.test('vouchers are checked, journaled and settled; bad ones are refused with the contract\'s reasons', async () => {
  const { clients, wallets, mesh } = chain.ctx
  const { channelId, voucher } = await openChannel(1_000n)
  const journal = new VoucherJournal(join(tmpDir(), 'a.db'))
  const settler = new Settler(clients[2]!, journal, { everyJobs: 1_000_000 })
  assert.equal(await settler.intake(voucher(100n, 10n)), { ok: true })
  assert.equal(await settler.intake(voucher(250n, 25n)), { ok: true })
  assert.is((await settler.intake(voucher(200n, 30n)) as { reason: string }).reason, 'NothingToSettle', 'stale')
  assert.is((await settler.intake(voucher(2_000n, 40n)) as { reason: string }).reason, 'VoucherExceedsDeposit')
  const forged = voucher(300n, 30n)
  forged.signature = new FastVoucherSigner(chain.ctx.node.accounts[3]!, clients[1]!.hasher).sign(forged)
  assert.is((await settler.intake(forged) as { reason: string }).reason, 'InvalidVoucherSigner')
  // a voucher for a channel that pays someone else
  const other = new Settler(clients[3]!, new VoucherJournal(join(tmpDir(), 'b.db')))
  assert.is((await other.intake(voucher(300n, 30n)) as { reason: string }).reason, 'NotPayee')

  const before = await balanceOf(mesh.token, wallets[2]!)
  const report = await settler.settle()
  assert.ok(report)
  assert.is(report!.total, 250n)
  assert.is(report!.jobs, 25n)
  assert.is((await balanceOf(mesh.token, wallets[2]!)) - before, 250n)
  assert.is((await clients[2]!.getChannel(channelId)).paid, 250n)
  assert.is(await settler.settle(), undefined, 'nothing owed: no transaction')
  journal.close()
})

chain.test('a gas price above the policy\'s ceiling defers settlement; the vouchers stay owed', async () => {
  const { clients } = chain.ctx
  const { voucher } = await openChannel(1_000n)
  const journal = new VoucherJournal(join(tmpDir(), 'g.db'))
  const settler = new Settler(clients[2]!, journal, { everyJobs: 1_000_000, maxGasPrice: 1n })
  assert.equal(await settler.intake(voucher(40n, 4n)), { ok: true })
  assert.is(await settler.settle(), undefined)
  assert.is(journal.owed().length, 1)
  journal.close()
})

chain.test('a requester starting to close a channel we are owed on is answered by settling in the window', async () => {
  const { clients, wallets, provider } = chain.ctx
  const requester = clients[1]!
  const block = await provider.getBlock('latest')
  const { channelId } = await requester.openChannel({ payee: wallets[2]!.address, amount: 500n, expiry: BigInt(block!.timestamp) + 60n })
  const signer = new FastVoucherSigner(chain.ctx.node.accounts[1]!, requester.hasher)
  const v = { channelId, cumulativeAmount: 300n, resultsRoot: `0x${'ab'.repeat(32)}`, jobCount: 3n }
  const journal = new VoucherJournal(join(tmpDir(), 'w.db'))
  const settler = new Settler(clients[2]!, journal, { everyJobs: 1_000_000, everyMs: 3_600_000 })
  assert.equal(await settler.intake({ ...v, signature: signer.sign(v) }), { ok: true })
  await settler.watchCloses() // starts watching from here
  await increaseTime(provider, 120)
  await requester.startClose(channelId)
  assert.ok(await settler.watchCloses(), 'the close was seen and settled')
  assert.is((await clients[2]!.getChannel(channelId)).paid, 300n)
  journal.close()
})

chain.test('a settlement journaled but never broadcast (crash) is reconciled as failed and settled again', async () => {
  const { clients } = chain.ctx
  const { channelId, voucher } = await openChannel(1_000n)
  const path = join(tmpDir(), 'c.db')
  const journal = new VoucherJournal(path)
  const settler = new Settler(clients[2]!, journal, { everyJobs: 1_000_000 })
  assert.equal(await settler.intake(voucher(70n, 7n)), { ok: true })
  journal.settlementSent(`0x${'ee'.repeat(32)}`, [{ channelId: channelKey(channelId), cumulative: 70n }])
  journal.close()
  const again = new VoucherJournal(path)
  const restarted = new Settler(clients[2]!, again, { everyJobs: 1_000_000 })
  assert.equal(await restarted.reconcile(), { confirmed: 0, failed: 1 })
  assert.is((await restarted.settle())!.total, 70n)
  assert.is((await clients[2]!.getChannel(channelId)).paid, 70n)
  again.close()
})

chain.test('SIGKILL at 24 points during intake and settlement: every acknowledged voucher kept, each paid once', async () => {
  const { clients, wallets, mesh, node } = chain.ctx
  const { channelId, voucher } = await openChannel(10_000_000n)
  const n = 120
  const vouchers = Array.from({ length: n }, (_, i) => voucher(BigInt(i + 1) * 1_000n, BigInt(i + 1)))
  const dir = tmpDir()
  const vouchersPath = join(dir, 'vouchers.json')
  writeFileSync(vouchersPath, JSON.stringify(vouchers, (_k, v) => (typeof v === 'bigint' ? v.toString() : v)))
  const journalPath = join(dir, 'agent.db')
  const child = fileURLToPath(new URL('../../test/support/settler-crash-child.ts', import.meta.url))
  const balance0 = await balanceOf(mesh.token, wallets[2]!)
  const run = (first: number, killAfterMs: number | undefined, finish: boolean) =>
    new Promise<{ acked: number[]; out: string; killed: boolean }>((resolve) => {
      const args = [child, node.rpc, mesh.addresses.channels, node.accounts[2]!, journalPath, vouchersPath, String(first), ...(finish ? ['--finish'] : [])]
      const p = spawn(process.execPath, ['--import', 'tsx', ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
      let out = ''
      let armed = killAfterMs !== undefined
      p.stdout.on('data', (d) => {
        out += d
        if (armed && out.includes('ready\n')) {
          armed = false
          setTimeout(() => p.kill('SIGKILL'), killAfterMs)
        }
      })
      p.stderr.on('data', (d) => (out += d))
      // a run we do not kill must still end: a hang fails here with its output, not at the runner's limit
      const guard = setTimeout(() => {
        out += '\n[test] no exit after 30 s\n'
        p.kill('SIGKILL')
      }, 30_000)
      p.on('exit', () => clearTimeout(guard))
      p.on('exit', (_code, signal) => resolve({ acked: [...out.matchAll(/^ack (\d+)$/gm)].map((m) => Number(m[1])), out, killed: signal === 'SIGKILL' }))
    })
  let next = 0
  let kills = 0
  // kill it 0..59 ms after it starts taking vouchers — mid-intake, mid-settlement (it settles every 3
  // jobs), mid-reconcile; once every voucher is acknowledged, keep killing it while it settles the rest
  for (let k = 0; kills < 24 && k < 80; k++) {
    const { acked, killed } = await run(next, (k * 7) % 60, next >= n)
    if (killed) kills++
    if (acked.length) next = Math.max(next, acked[acked.length - 1]! + 1)
    // every acknowledged voucher is on disk
    const j = new VoucherJournal(journalPath)
    const latest = j.latest(channelKey(channelId))
    if (next > 0) assert.ok(latest && latest.cumulative >= BigInt(next) * 1_000n, `after kill ${k}: journal ${latest?.cumulative}, acked up to ${next}`)
    j.close()
  }
  assert.ok(kills >= 20, `${kills} kills`)
  const { out } = await run(next, undefined, true)
  assert.match(out, /finished/, out)
  const j = new VoucherJournal(journalPath)
  const latest = j.latest(channelKey(channelId))!.cumulative
  const paid = (await clients[2]!.getChannel(channelId)).paid
  assert.is(paid, latest, 'the chain paid exactly the latest acknowledged cumulative')
  assert.is((await balanceOf(mesh.token, wallets[2]!)) - balance0, paid, 'and the tokens moved once')
  assert.is(j.openSettlements().length, 0)
  j.close()
})

test.run()
