/**
 * Admission on its own: which signed assignments an agent runs, the reason
 * code for each it refuses, nonces kept until expiry and no longer, sealed
 * inputs opened only from their requester. The agent end to end is in
 * agent.test.ts; the attacks through a real broker in test/control-plane.test.ts.
 */
import { createHash } from 'node:crypto'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { signAssignmentBatched, type AssignmentFields } from '../protocol/assignment.ts'
import { BatchSigner } from '../protocol/batch-signer.ts'
import { ManualClock } from '../protocol/manual-clock.ts'
import { assignSchema } from '../protocol/messages.ts'
import { frameSalted, jobSealContext, Sealer, generateBoxKeyPair } from '../protocol/seal.ts'
import { parseValue } from '../protocol/validate.ts'
import { assignment, ephemeralIdentity } from '../test/support/signed-assign.ts'
import { Admission, type AdmissionOptions } from './admission.ts'
import { NonceWindow } from './nonce-window.ts'

const AGENT = 'f'.repeat(20)
const MODULE = 'ab'.repeat(32)
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex')

function setup(o: Partial<AdmissionOptions> = {}) {
  const clock = new ManualClock()
  const requester = ephemeralIdentity()
  const box = generateBoxKeyPair()
  const admission = new Admission({ agentId: AGENT, acceptFrom: [requester.id], clock, nonceWindow: 100, maxSkewMs: 1000, maxTtlMs: 60_000, sealer: new Sealer(box), ...o })
  const admit = async (wire: Record<string, unknown>) => {
    const d = parseValue(wire, assignSchema)
    if (!d.ok) throw d.error
    return admission.admit(wire, d.value)
  }
  const make = (over: Parameters<typeof assignment>[2] = {}, who = requester) => assignment(who, { agent: AGENT, module: MODULE, now: clock.now(), ttlMs: 10_000 }, over) as unknown as Record<string, unknown>
  return { clock, requester, box, admission, admit, make }
}

const code = (v: { ok: boolean; code?: string }) => (v.ok ? 'ok' : v.code)

test('a signed assignment for this agent from an accepted requester is admitted once', async () => {
  const t = setup()
  const a = t.make()
  const v = await t.admit(a)
  assert.ok(v.ok)
  if (v.ok) assert.is(v.admitted.job.input.toString(), 'hello')
  // the runner signs inputSha256 without hashing the input again: admission checked it is the input's hash
  if (v.ok) assert.ok(v.admitted.inputChecked && v.admitted.job.inputSha256 === sha(v.admitted.job.input))
  assert.is(code(await t.admit(a)), 'replayed')
  assert.is(code(await t.admit({ ...a, attempt: 2 })), 'bad_signature')
})

test('each way to be refused has its code', async () => {
  const t = setup()
  const stranger = ephemeralIdentity()
  assert.is(code(await t.admit(t.make({ agent: 'e'.repeat(20) }))), 'not_accepted')
  assert.is(code(await t.admit(t.make({}, stranger))), 'not_accepted')
  assert.is(code(await t.admit({ ...t.make({}, stranger), requesterKey: t.requester.publicKeyHex })), 'bad_signature')
  assert.is(code(await t.admit({ ...t.make(), input: Buffer.from('swapped').toString('base64') })), 'bad_signature')
  assert.is(code(await t.admit(t.make({ expiresAt: t.clock.now() - 1001 }))), 'expired')
  assert.is(code(await t.admit(t.make({ expiresAt: t.clock.now() - 999 }))), 'ok', 'within the clock skew')
  assert.is(code(await t.admit(t.make({ expiresAt: t.clock.now() + 61_001 + 1000 }))), 'expired', 'too far ahead')
  assert.equal(t.admission.describe(), `requester ${t.requester.id}`)
  const any = setup({ acceptFrom: 'any' })
  assert.is(code(await any.admit(any.make({}, stranger))), 'ok')
  const none = setup({ acceptFrom: [] })
  assert.match(none.admission.describe(), /^nobody/)
  assert.is(code(await none.admit(none.make())), 'not_accepted')
})

test('bids only for requesters it would take work from', () => {
  const t = setup()
  const offer = { offerId: 'o', requester: 'r', replyTo: 'x', module: MODULE }
  assert.ok(t.admission.wouldBid({ ...offer, requesterKey: t.requester.publicKeyHex }))
  assert.not.ok(t.admission.wouldBid({ ...offer, requesterKey: ephemeralIdentity().publicKeyHex }))
  assert.not.ok(t.admission.wouldBid(offer), 'an offer naming no key')
  assert.ok(setup({ acceptFrom: 'any' }).admission.wouldBid(offer))
})

test('sealed inputs: opened from the requester box key named in the signed assignment, checked against the signed salted hash', async () => {
  const t = setup()
  const reqBox = generateBoxKeyPair()
  const salt = Buffer.alloc(16, 3)
  const framed = frameSalted(salt, Buffer.from('private reading'))
  const sealFor = (job: string, agent = AGENT) => new Sealer(reqBox).seal(framed, t.box.publicKeyHex, jobSealContext('assign', job, agent))
  const ok = t.make({ id: 's1', input: undefined, sealedInput: sealFor('s1'), replyKey: reqBox.publicKeyHex, inputSha256: sha(framed) })
  const v = await t.admit(ok)
  assert.ok(v.ok)
  if (v.ok) assert.equal([v.admitted.job.input.toString(), v.admitted.salt?.toString('hex')], ['private reading', salt.toString('hex')])
  // sealed for another job, by another key, with another commitment, without the reply key
  assert.is(code(await t.admit(t.make({ id: 's2', input: undefined, sealedInput: sealFor('s1'), replyKey: reqBox.publicKeyHex, inputSha256: sha(framed) }))), 'seal_broken')
  assert.is(code(await t.admit(t.make({ id: 's3', input: undefined, sealedInput: sealFor('s3'), replyKey: generateBoxKeyPair().publicKeyHex, inputSha256: sha(framed) }))), 'seal_broken')
  assert.is(code(await t.admit(t.make({ id: 's4', input: undefined, sealedInput: sealFor('s4'), replyKey: reqBox.publicKeyHex, inputSha256: 'ee'.repeat(32) }))), 'bad_signature')
  assert.is(code(await t.admit(t.make({ id: 's5', input: undefined, sealedInput: sealFor('s5'), inputSha256: sha(framed) }))), 'invalid_field')
  assert.is(code(await t.admit(t.make({ id: 's6', input: 'aGk=', sealedInput: sealFor('s6'), replyKey: reqBox.publicKeyHex }))), 'invalid_field', 'both input and sealedInput')
  const plain = setup({ sealer: undefined })
  assert.is(code(await plain.admit(plain.make({ input: undefined, sealedInput: sealFor('p'), replyKey: reqBox.publicKeyHex }))), 'seal_broken')
})

test('a forged copy does not burn the nonce: the genuine one still runs', async () => {
  const t = setup()
  const a = t.make()
  assert.is(code(await t.admit({ ...a, input: Buffer.from('not it').toString('base64') })), 'bad_signature')
  assert.is(code(await t.admit(a)), 'ok')
})

test('batch-signed assignments: each admitted once, its batch signature checked once, replays and tampering refused as before', async () => {
  const t = setup()
  const batch = new BatchSigner('assign', t.requester.signer)
  const fields = (i: number): AssignmentFields => {
    const a = t.make({ id: `b-${i}` })
    const { signature: _s, ...f } = a
    return f as unknown as AssignmentFields
  }
  const wires = (await Promise.all([0, 1, 2, 3].map((i) => signAssignmentBatched(fields(i), batch)))) as unknown as Record<string, unknown>[]
  assert.ok(wires.every((w) => w.batch !== undefined), 'one batch of four')
  for (const w of wires) assert.is(code(await t.admit(w)), 'ok')
  assert.is(t.admission.verifiedRoots.size, 1)
  assert.is(t.admission.verifiedRoots.hits, 3, 'the batch signature verified once for four assignments')
  for (const w of wires) assert.is(code(await t.admit(w)), 'replayed', 'an exact replay')
  const fresh = (await Promise.all([4, 5].map((i) => signAssignmentBatched(fields(i), batch)))) as unknown as Record<string, unknown>[]
  assert.is(code(await t.admit({ ...fresh[0]!, attempt: 2 })), 'bad_signature', 'a new attempt number')
  assert.is(code(await t.admit({ ...fresh[0]!, batch: fresh[1]!.batch })), 'bad_signature', "another assignment's proof")
  assert.is(code(await t.admit({ ...fresh[0]!, input: Buffer.from('other').toString('base64') })), 'bad_signature', 'another input')
  // the forgeries burnt nothing: the genuine ones still run, once
  for (const w of fresh) assert.is(code(await t.admit(w)), 'ok')
  await t.clock.advance(20_000)
  const late = (await Promise.all([6, 7].map((i) => signAssignmentBatched({ ...fields(i), expiresAt: 0 }, batch)))) as unknown as Record<string, unknown>[]
  assert.is(code(await t.admit(late[0]!)), 'expired')
})

test('nonce window: kept until expiry (plus skew), bounded; forgotten nonces are refused by the floor, never run twice', () => {
  const w = new NonceWindow(3)
  assert.is(w.take('a', 100, 0), 'taken')
  assert.is(w.take('a', 100, 50), 'replayed')
  assert.is(w.take('b', 200, 50), 'taken')
  assert.is(w.take('c', 300, 50), 'taken')
  assert.is(w.take('d', 400, 50), 'taken') // full: 'a' (expiring first) forgotten, the floor rises to 100
  assert.equal([w.size, w.evicted, w.floor], [3, 1, 100])
  assert.is(w.take('a', 100, 60), 'too-old', 'the forgotten one cannot come back')
  assert.is(w.take('e', 90, 60), 'too-old')
  assert.is(w.take('b', 200, 60), 'replayed')
  // expired entries make room without raising the floor
  assert.is(w.take('f', 500, 250), 'taken')
  assert.equal([w.size, w.floor], [3, 100])
})

test.run()
