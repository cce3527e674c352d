import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { ValidationError } from './errors.ts'
import { mergeOptions } from './options.ts'

interface Opts {
  slots?: number | undefined
  name?: string
  host: string
}

test('an option left out or passed as undefined keeps its default', () => {
  const given: Opts = { host: 'h', slots: undefined }
  const merged = mergeOptions(given, { slots: 2, name: 'agent' })
  assert.equal(merged, { host: 'h', slots: 2, name: 'agent' })
  const slots: number = merged.slots
  assert.is(slots, 2)
})

test('a given value wins, inputs are not changed', () => {
  const defaults = { slots: 2 }
  const given: Opts = { host: 'h', slots: 8 }
  const merged = mergeOptions(given, defaults)
  assert.is(merged.slots, 8)
  assert.is(defaults.slots, 2)
  assert.is.not(merged, given)
})

test('a number out of range is refused with the field named, never clamped', () => {
  const ranges = { slots: { min: 1, max: 64, integer: true } }
  for (const [slots, expected] of [
    [0, 'agent.slots: expected at least 1 (got 0)'],
    [65, 'agent.slots: expected at most 64 (got 65)'],
    [1.5, 'agent.slots: expected a whole number'],
    [Number.NaN, 'agent.slots: expected a finite number'],
  ] as const) {
    try {
      mergeOptions<Opts, { slots: number }>({ host: 'h', slots }, { slots: 2 }, ranges, 'agent')
      assert.unreachable(`accepted ${slots}`)
    } catch (err) {
      assert.instance(err, ValidationError)
      assert.is((err as ValidationError).field, 'agent.slots')
      assert.is((err as Error).message, expected)
    }
  }
  assert.is(mergeOptions<Opts, { slots: number }>({ host: 'h', slots: 64 }, { slots: 2 }, ranges).slots, 64)
})

test.run()
