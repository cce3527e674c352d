import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { tmpDir } from '../../test/support/temp-dirs.ts'
import { channelKey, VoucherJournal, type JournalVoucher } from './journal.ts'

const ch = (n: number) => channelKey(BigInt(n))
const v = (channel: number, cumulative: bigint, jobs = 1): JournalVoucher => ({
  channelId: ch(channel), cumulative, resultsRoot: `0x${'ab'.repeat(32)}`, jobCount: jobs, signature: `0x${'cd'.repeat(65)}`,
})

test('only newer vouchers are accepted; replays and stale ones record nothing', () => {
  const j = new VoucherJournal(join(tmpDir(), 'j.db'))
  assert.ok(j.acceptVoucher(v(1, 10n), [{ jobId: 'a', leaf: `0x${'01'.repeat(32)}` }]))
  assert.not.ok(j.acceptVoucher(v(1, 10n)), 'the same voucher twice')
  assert.ok(j.acceptVoucher(v(1, 25n, 2), [{ jobId: 'b', leaf: `0x${'02'.repeat(32)}` }]))
  assert.not.ok(j.acceptVoucher(v(1, 20n)), 'stale after a newer one')
  assert.is(j.latest(ch(1))!.cumulative, 25n)
  assert.equal(j.leaves(ch(1)).map((l) => l.jobId), ['a', 'b'])
  // amounts beyond 2^64 survive (token base units with 18 decimals)
  assert.ok(j.acceptVoucher(v(2, 10n ** 30n)))
  assert.is(j.latest(ch(2))!.cumulative, 10n ** 30n)
  j.close()
})

test('owed, settlements and reconciliation move forward only', () => {
  const j = new VoucherJournal(join(tmpDir(), 'j.db'))
  j.acceptVoucher(v(1, 100n))
  j.acceptVoucher(v(2, 50n))
  assert.equal(j.owed().map((o) => [o.channelId, o.voucher.cumulative, o.paid]), [[ch(1), 100n, 0n], [ch(2), 50n, 0n]])
  j.settlementSent('0xaa', [{ channelId: ch(1), cumulative: 100n }])
  assert.equal(j.openSettlements().map((s) => s.txHash), ['0xaa'])
  j.setPaid(ch(1), 100n)
  j.settlementDone('0xaa', 'confirmed', 51_000n)
  assert.equal(j.openSettlements(), [])
  j.setPaid(ch(1), 40n) // never backwards
  // a settlement journaled, never broadcast (crash), reconciled as failed, then sent again: same hash
  j.settlementSent('0xbb', [{ channelId: ch(2), cumulative: 50n }])
  j.settlementDone('0xbb', 'failed')
  j.settlementSent('0xbb', [{ channelId: ch(2), cumulative: 50n }])
  assert.equal(j.openSettlements().map((s) => s.txHash), ['0xbb'])
  assert.equal(j.owed().map((o) => o.channelId), [ch(2)])
  j.close()
})

test('SIGKILL while writing: every acknowledged voucher is on disk', async () => {
  const path = join(tmpDir(), 'crash.db')
  // a child accepts vouchers as fast as it can and prints "ack N" after each commit
  const code = `
    import { VoucherJournal } from ${JSON.stringify(new URL('./journal.ts', import.meta.url).pathname)}
    const j = new VoucherJournal(${JSON.stringify(path)})
    for (let n = 1n; ; n++) {
      j.acceptVoucher({ channelId: '0x' + '11'.repeat(32), cumulative: n, resultsRoot: '0x' + '00'.repeat(32), jobCount: Number(n), signature: '0x' }, [{ jobId: 'job-' + n, leaf: '0x' + '22'.repeat(32) }])
      process.stdout.write('ack ' + n + '\\n')
    }`
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'inherit'] })
  let out = ''
  child.stdout.on('data', (d) => (out += d))
  await new Promise<void>((resolve) => {
    const check = () => (/ack 200\n/.test(out) ? resolve() : setTimeout(check, 5))
    check()
  })
  const exited = new Promise((r) => child.once('exit', r))
  child.kill('SIGKILL')
  await exited
  const acked = [...out.matchAll(/ack (\d+)\n/g)].map((m) => BigInt(m[1]!))
  const lastAcked = acked[acked.length - 1]!
  const j = new VoucherJournal(path)
  const latest = j.latest('0x' + '11'.repeat(32))!.cumulative
  assert.ok(latest >= lastAcked, `journal has ${latest}, acknowledged ${lastAcked}`)
  assert.ok(j.leaves('0x' + '11'.repeat(32)).length >= Number(lastAcked))
  j.close()
})

test.run()
