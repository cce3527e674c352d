import { spawn } from 'node:child_process'
import { appendFileSync, existsSync, readFileSync, statSync, truncateSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { tmpDir } from '../../test/support/temp-dirs.ts'
import { ErrorCode, FogmeshError } from '../../protocol/errors.ts'
import { crc32, crc32Table, JOURNAL_HEADER } from './journal-file.ts'
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

test('CRC-32 known answers (IEEE, as zlib)', () => {
  assert.is(crc32(Buffer.from('')), 0)
  assert.is(crc32(Buffer.from('123456789')), 0xcbf43926)
  assert.is(crc32(Buffer.from('The quick brown fox jumps over the lazy dog')), 0x414fa339)
  // the table loop (a Node without zlib.crc32) agrees with the native one
  for (const b of [Buffer.from(''), Buffer.from('123456789'), Buffer.alloc(4099, 0xa5), Buffer.from(JSON.stringify({ k: 'p', m: 7, p: 'x'.repeat(999) }))]) {
    assert.is(crc32Table(b), crc32(b))
  }
})

test('state survives a reopen, and a torn last write is cut off (it was never acknowledged)', () => {
  const path = join(tmpDir(), 'torn.journal')
  const j = new VoucherJournal(path)
  j.acceptVoucher(v(1, 10n), [{ jobId: 'a', leaf: `0x${'01'.repeat(32)}` }])
  j.acceptVoucher(v(1, 20n), [{ jobId: 'b', leaf: `0x${'02'.repeat(32)}` }])
  j.settlementSent('0xaa', [{ channelId: ch(1), cumulative: 20n }])
  j.close()
  const whole = statSync(path).size
  // a third voucher whose write was cut short by a power cut: half a frame on disk
  const k = new VoucherJournal(path)
  k.acceptVoucher(v(1, 30n))
  k.close()
  const withThird = statSync(path).size
  truncateSync(path, whole + Math.floor((withThird - whole) / 2))
  const r = new VoucherJournal(path)
  assert.is(r.latest(ch(1))!.cumulative, 20n)
  assert.equal(r.leaves(ch(1)).map((l) => l.jobId), ['a', 'b'])
  assert.equal(r.openSettlements().map((s) => s.txHash), ['0xaa'])
  assert.is(statSync(path).size, whole, 'the torn frame was cut off')
  // and the file takes appends again after the cut
  assert.ok(r.acceptVoucher(v(1, 40n)))
  r.close()
  assert.is(new VoucherJournal(path).latest(ch(1))!.cumulative, 40n)
})

test('damage before the end is refused with the offset named, never skipped', () => {
  const path = join(tmpDir(), 'bad.journal')
  const j = new VoucherJournal(path)
  for (let i = 1n; i <= 5n; i++) j.acceptVoucher(v(1, i * 10n))
  j.close()
  const bytes = readFileSync(path)
  bytes[JOURNAL_HEADER.length + 20] = (bytes[JOURNAL_HEADER.length + 20] as number) ^ 0xff // inside the first record's payload
  writeFileSync(path, bytes)
  try {
    new VoucherJournal(path)
    assert.unreachable('opened a damaged journal')
  } catch (err) {
    assert.instance(err, FogmeshError)
    assert.is((err as FogmeshError).code, ErrorCode.journalCorrupt)
    assert.match((err as Error).message, /checksum mismatch in the frame at byte 18/)
  }
  // an old SQLite journal is named as such
  const old = join(tmpDir(), 'settlement.db')
  writeFileSync(old, Buffer.concat([Buffer.from('SQLite format 3\0'), Buffer.alloc(100)]))
  assert.throws(() => new VoucherJournal(old), /SQLite journal from an older fogmesh/)
})

test('compaction keeps every voucher, leaf, payment and open settlement, and shrinks the file', () => {
  const path = join(tmpDir(), 'compact.journal')
  const j = new VoucherJournal(path, { compactAtBytes: 16 * 1024 })
  for (let i = 1; i <= 400; i++) {
    j.acceptVoucher(v(1 + (i % 3), BigInt(i) * 7n, i), [{ jobId: `job-${i}`, leaf: `0x${(i % 256).toString(16).padStart(2, '0').repeat(32)}` }])
    if (i % 50 === 0) {
      j.settlementSent(`0x${i.toString(16).padStart(4, '0')}`, [{ channelId: ch(1), cumulative: BigInt(i) }])
      j.settlementDone(`0x${i.toString(16).padStart(4, '0')}`, 'confirmed', 21_000n)
      j.setPaid(ch(1 + (i % 3)), BigInt(i) * 7n)
    }
  }
  j.settlementSent('0xopen', [{ channelId: ch(2), cumulative: 1n }])
  const before = { owed: j.owed(), leaves: [1, 2, 3].map((c) => j.leaves(ch(c))), open: j.openSettlements() }
  assert.ok(j.fileBytes < 48 * 1024, `compacted along the way: ${j.fileBytes} bytes`)
  j.close()
  assert.not.ok(existsSync(join(path, '..', '.compact.journal.rewrite')))
  const r = new VoucherJournal(path)
  assert.equal({ owed: r.owed(), leaves: [1, 2, 3].map((c) => r.leaves(ch(c))), open: r.openSettlements() }, before)
  assert.is([1, 2, 3].reduce((n, c) => n + r.leaves(ch(c)).length, 0), 400)
  r.close()
})

test('a rewrite cut short before its rename leaves the old file in charge', () => {
  const path = join(tmpDir(), 'rw.journal')
  const j = new VoucherJournal(path)
  j.acceptVoucher(v(1, 10n))
  j.close()
  // what a crash mid-compaction leaves: a half-written snapshot beside the journal
  const tmp = join(path, '..', '.rw.journal.rewrite')
  writeFileSync(tmp, JOURNAL_HEADER)
  appendFileSync(tmp, Buffer.from([1, 2, 3]))
  const r = new VoucherJournal(path)
  assert.is(r.latest(ch(1))!.cumulative, 10n)
  assert.not.ok(existsSync(tmp), 'the leftover snapshot is removed')
  r.close()
})

test.run()
