import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { Debouncer, type Settled, type Timers } from './debounce.ts'

/** Timers driven by hand: `advance(ms)` runs what is due. */
function fakeTimers() {
  let now = 0
  const due: Array<{ at: number; fn: () => void; id: number }> = []
  let next = 1
  const timers: Timers = {
    set: (fn, ms) => {
      const id = next++
      due.push({ at: now + ms, fn, id })
      return id
    },
    clear: (h) => {
      const i = due.findIndex((d) => d.id === h)
      if (i >= 0) due.splice(i, 1)
    },
  }
  const advance = (ms: number) => {
    now += ms
    for (;;) {
      due.sort((a, b) => a.at - b.at)
      const d = due[0]
      if (!d || d.at > now) break
      due.shift()
      d.fn()
    }
  }
  return { timers, advance, now: () => now }
}

test('a bouncing press is one event, with its bounces counted; a glitch that returns reports nothing', () => {
  const t = fakeTimers()
  const out: Settled[] = []
  const d = new Debouncer(20, (s) => out.push(s), 0, t.timers)
  // press: 1 0 1 0 1 within 6 ms, then held
  for (const [v, at] of [[1, 0], [0, 1], [1, 2], [0, 4], [1, 6]] as const) {
    t.advance(at - t.now())
    d.edge(v, at)
  }
  t.advance(19)
  assert.equal(out, [])
  t.advance(1)
  assert.equal(out, [{ value: 1, firstEdgeMs: 0, bounces: 4 }])
  // a 2 ms glitch to 0 and back: settles at 1 again, nothing reported
  d.edge(0, 100)
  t.advance(2)
  d.edge(1, 102)
  t.advance(25)
  assert.is(out.length, 1)
  assert.is(d.bounces, 6)
  // release
  d.edge(0, 200)
  t.advance(20)
  assert.equal(out[1], { value: 0, firstEdgeMs: 200, bounces: 0 })
})

test('debounce 0 reports every change at once', () => {
  const out: number[] = []
  const d = new Debouncer(0, (s) => out.push(s.value), 0)
  d.edge(1, 0)
  d.edge(1, 1)
  d.edge(0, 2)
  assert.equal(out, [1, 0])
})

test.run()
