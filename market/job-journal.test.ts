/** The gateway's job journal on a real file: replay after reopen, the duplicate window's bound, compaction, a torn tail. */
import { appendFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { tmpDir } from '../test/support/temp-dirs.ts'
import { JobJournal } from './job-journal.ts'

test('reopened: accepted jobs to run again, answers to deliver again, delivered keys still known; the id stays', () => {
  const path = join(tmpDir('fm-jj-'), 'gateway.journal')
  const j = JobJournal.open(path, { dedupeWindow: 10 })
  j.accept('a', Buffer.from('{"id":"a"}'), 'fm/v1/jobs/submit')
  j.accept('b', Buffer.from('{"id":"b"}'))
  j.accept('c', Buffer.from('{"id":"c"}'))
  j.answer('b', 's/r', '{"id":"b","status":"ok"}')
  j.answer('c', 's/r', '{"id":"c","status":"ok"}')
  j.markDelivered('c')
  const id = j.id
  j.close()
  const again = JobJournal.open(path, { dedupeWindow: 10 })
  assert.is(again.id, id)
  assert.equal(again.unanswered().map((x) => [x.key, x.payload.toString(), x.topic]), [['a', '{"id":"a"}', 'fm/v1/jobs/submit']])
  assert.equal(again.undelivered(), [{ key: 'b', replyTo: 's/r', wire: '{"id":"b","status":"ok"}' }])
  assert.ok(again.has('c'))
  assert.equal(again.stats(), { ...again.stats(), accepted: 1, answered: 1, delivered: 1 })
  again.close()
})

test('the duplicate window keeps the last dedupeWindow delivered keys; the file is compacted to its live records', () => {
  const path = join(tmpDir('fm-jj-'), 'gateway.journal')
  const j = JobJournal.open(path, { dedupeWindow: 100, compactMinBytes: 16 * 1024 })
  const payload = Buffer.alloc(200, 65)
  for (let i = 0; i < 600; i++) {
    j.accept(`k${i}`, payload)
    j.answer(`k${i}`, 's/r', 'x'.repeat(100))
    j.markDelivered(`k${i}`)
  }
  assert.not.ok(j.has('k0'), 'the oldest key left the window')
  assert.ok(j.has('k599'))
  assert.is(j.stats().delivered, 100)
  assert.ok(j.stats().compactions > 0)
  assert.ok(statSync(path).size < 64 * 1024, `file ${statSync(path).size} bytes`)
  j.close()
  const again = JobJournal.open(path, { dedupeWindow: 100 })
  assert.ok(again.has('k599'))
  assert.is(again.stats().delivered, 100)
  again.close()
})

test('a torn last record (a crash mid-write) is cut off; what came before stands', () => {
  const path = join(tmpDir('fm-jj-'), 'gateway.journal')
  const j = JobJournal.open(path, { dedupeWindow: 10 })
  j.accept('a', Buffer.from('{}'))
  j.close()
  appendFileSync(path, Buffer.from([100, 0, 0, 0, 9, 9]))
  const again = JobJournal.open(path, { dedupeWindow: 10 })
  assert.equal(again.unanswered().map((x) => x.key), ['a'])
  again.close()
})

test.run()
