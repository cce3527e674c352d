import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { tmpDir } from '../test/support/temp-dirs.ts'
import { NonceJournal } from './nonce-journal.ts'
import { NonceWindow } from './nonce-window.ts'

const lines = (p: string) => (existsSync(p) ? readFileSync(p, 'utf8') : '').split('\n').filter(Boolean).length

test('a nonce taken before a restart is still a replay after it; an expired one is not kept', () => {
  const path = join(tmpDir('fm-nonces-'), 'nonces.journal')
  const first = new NonceWindow(100, new NonceJournal(path, 100), 1000)
  assert.is(first.take('r1:a', 5000, 1000), 'taken')
  assert.is(first.take('r1:b', 1500, 1000), 'taken')
  first.commit()
  const again = new NonceWindow(100, new NonceJournal(path, 100), 2000) // restarted at t=2000: b expired
  assert.is(again.take('r1:a', 5000, 2000), 'replayed')
  assert.is(again.size, 1)
  assert.is(lines(path), 1, 'rewritten with the unexpired one at open')
})

test('a torn last line (a crash mid-append) is skipped; the file stays within twice the window', () => {
  const path = join(tmpDir('fm-nonces-'), 'nonces.journal')
  writeFileSync(path, '9000 r1:x\n90')
  const w = new NonceWindow(10, new NonceJournal(path, 10), 1000)
  assert.is(w.take('r1:x', 9000, 1000), 'replayed')
  for (let i = 0; i < 50; i++) w.take(`r1:n${i}`, 9000 + i, 1000)
  w.commit()
  assert.ok(lines(path) <= 21, `bounded (${lines(path)} lines)`)
  const back = new NonceWindow(10, new NonceJournal(path, 10), 1000)
  assert.is(back.take('r1:n49', 9049, 1000), 'replayed')
})

test('a burst of takes is one write, at the end of its synchronous run (before anything it queued runs); commit writes at once', async () => {
  const path = join(tmpDir('fm-nonces-'), 'nonces.journal')
  const w = new NonceWindow(100, new NonceJournal(path, 100), 1000)
  for (let i = 0; i < 5; i++) w.take(`r1:b${i}`, 9000 + i, 1000)
  assert.is(lines(path), 0, 'not yet written')
  const seen = await new Promise<number>((resolve) => queueMicrotask(() => resolve(lines(path))))
  assert.is(seen, 5, 'written before a microtask queued after the burst ran')
  w.take('r1:c', 9100, 1000)
  w.commit()
  assert.is(lines(path), 6, 'commit writes what is pending')
  w.take('r1:d', 9200, 1000)
  w.close()
  assert.is(lines(path), 7, 'close writes what is pending')
  const back = new NonceWindow(100, new NonceJournal(path, 100), 1000)
  for (const k of ['r1:b0', 'r1:b4', 'r1:c', 'r1:d']) assert.is(back.take(k, 9999, 1000), 'replayed', k)
})

test.run()
