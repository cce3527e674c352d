// Known-answer tests for wasm-modules/capacity (the Proof of Capacity hash chain), run under
// node:wasi, against node's own SHA-256; and the challenger's segment audit.
//   node --import tsx wasm-modules/capacity/capacity.test.ts
import { createHash } from 'node:crypto'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { auditAnswer, challengeInput, expectedAnswer } from '../../market/capacity-challenge.ts'
import { ModuleUnderTest } from '../node-wasi.ts'

const mod = new ModuleUnderTest('capacity')
test.before(() => mod.build())

const seed = (byte: number) => Buffer.alloc(32, byte)

test('one segment: zero links print the seed; one link is sha256(seed)', async () => {
  const r0 = await mod.run(challengeInput(seed(0xab), 0))
  assert.is(r0.exitCode, 0, r0.stderr.toString())
  assert.is(r0.stdout.toString(), `${'ab'.repeat(32)}\n`)
  const r1 = await mod.run(challengeInput(seed(0), 1))
  // known answer: sha256 of 32 zero bytes
  assert.is(r1.stdout.toString(), '66687aadf862bd776c8fc18b8e9f8e20089714856ee233b3902a591d0d5f2925\n')
  assert.is(r1.stdout.toString(), `${createHash('sha256').update(seed(0)).digest('hex')}\n`)
})

test('a chain of 1000 in 10 segments matches node checkpoint for checkpoint; audits pass', async () => {
  for (let i = 0; i < 3; i++) {
    const s = createHash('sha256').update(`seed ${i}`).digest()
    const r = await mod.run(challengeInput(s, 1000, 10))
    assert.is(r.exitCode, 0)
    const out = r.stdout.toString()
    assert.is(out, expectedAnswer(s, 1000, 10))
    assert.ok(auditAnswer(out, s, 1000, 10, 10))
  }
})

test('the audit catches a segment not computed, a wrong seed, a malformed answer', () => {
  const s = seed(7)
  const good = expectedAnswer(s, 200, 4).split('\n')
  const faked = [...good]
  faked[1] = createHash('sha256').update('made up').digest('hex')
  // auditing every segment (4 of 4) always finds it
  assert.not.ok(auditAnswer(faked.join('\n'), s, 200, 4, 64))
  assert.not.ok(auditAnswer(good.join('\n'), seed(8), 200, 4, 64))
  assert.not.ok(auditAnswer(good.slice(1).join('\n'), s, 200, 4, 1))
  assert.not.ok(auditAnswer('nope\n', s, 200, 1, 1))
})

test('input that is not 40 bytes, or segments that do not divide the chain, fail with a message', async () => {
  for (const bad of [Buffer.alloc(0), Buffer.alloc(36), Buffer.alloc(41)]) {
    const r = await mod.run(bad)
    assert.is(r.exitCode, 1)
    assert.match(r.stderr.toString(), /expected 40 bytes/)
  }
  const odd = Buffer.alloc(40)
  odd.writeUInt32LE(10, 32)
  odd.writeUInt32LE(3, 36)
  const r = await mod.run(odd)
  assert.is(r.exitCode, 1)
  assert.match(r.stderr.toString(), /divide/)
})

test.run()
