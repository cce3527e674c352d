// Known-answer tests for wasm-modules/capacity (the Proof of Capacity hash chain), run under
// node:wasi, against node's own SHA-256.
//   node --import tsx wasm-modules/capacity/capacity.test.ts
import { createHash } from 'node:crypto'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { challengeInput, expectedAnswer } from '../../market/capacity-challenge.ts'
import { ModuleUnderTest } from '../node-wasi.ts'

const mod = new ModuleUnderTest('capacity')
test.before(() => mod.build())

const seed = (byte: number) => Buffer.alloc(32, byte)

test('zero iterations print the seed; one iteration is sha256(seed)', async () => {
  const r0 = await mod.run(challengeInput(seed(0xab), 0))
  assert.is(r0.exitCode, 0, r0.stderr.toString())
  assert.is(r0.stdout.toString(), `${'ab'.repeat(32)}\n`)
  const r1 = await mod.run(challengeInput(seed(0), 1))
  assert.is(r1.stdout.toString(), `${createHash('sha256').update(seed(0)).digest('hex')}\n`)
  // known answer: sha256 of 32 zero bytes
  assert.is(r1.stdout.toString().trim(), '66687aadf862bd776c8fc18b8e9f8e20089714856ee233b3902a591d0d5f2925')
})

test('a chain of 1000 from a random seed matches node, byte for byte', async () => {
  for (let i = 0; i < 3; i++) {
    const s = createHash('sha256').update(`seed ${i}`).digest()
    const r = await mod.run(challengeInput(s, 1000))
    assert.is(r.exitCode, 0)
    assert.is(r.stdout.toString(), expectedAnswer(s, 1000))
  }
})

test('input that is not 36 bytes fails with a message', async () => {
  for (const bad of [Buffer.alloc(0), Buffer.alloc(35), Buffer.alloc(37)]) {
    const r = await mod.run(bad)
    assert.is(r.exitCode, 1)
    assert.match(r.stderr.toString(), /expected 36 bytes/)
  }
})

test.run()
