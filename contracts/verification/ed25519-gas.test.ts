/**
 * The road not taken, measured: ed25519 verified in Solidity (src/test/Ed25519Verifier.sol) on a
 * real anvil, against node's own signatures (RFC 8032 test vector 1 included), and its gas next
 * to the ecrecover path the court uses. Prints both figures.
 *
 *   node --import tsx contracts/verification/ed25519-gas.test.ts
 */
import { generateKeyPairSync, sign } from 'node:crypto'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { hexlify } from 'ethers'
import { resultStatement } from '../../protocol/signature.ts'
import { send, useChain } from '../../test/support/chain.ts'
import { deployContract } from '../deploy.ts'

const chain = useChain(test)
const t = chain.test

function keyPair(): { publicKey: Buffer; sign: (m: Buffer) => Buffer } {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519')
  const raw = publicKey.export({ format: 'der', type: 'spki' }).subarray(-32)
  return { publicKey: Buffer.from(raw), sign: (m) => sign(null, m, privateKey) }
}

const split = (sig: Buffer) => [hexlify(sig.subarray(0, 32)), hexlify(sig.subarray(32))]

t('ed25519 in Solidity verifies node signatures and refuses altered ones; its gas against ecrecover', async () => {
  const { wallets } = chain.ctx
  const v = await deployContract('Ed25519Verifier', wallets[0]!)
  const verify = v.getFunction('verify')
  // RFC 8032, 7.1, test 1: the empty message
  const pk1 = '0xd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a'
  const sig1 = Buffer.from('e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b', 'hex')
  assert.ok(await verify(pk1, ...split(sig1), '0x'), 'RFC 8032 test 1')
  // a real result statement, as agents sign them
  const k = keyPair()
  const statement = resultStatement({ id: 'job-1@abcdef123456', agent: 'ab'.repeat(10), module: 'cd'.repeat(32), inputSha256: 'ef'.repeat(32), status: 'ok', outputSha256: '12'.repeat(32), fuel: 123456 })
  const sig = k.sign(statement)
  const pk = hexlify(k.publicKey)
  assert.ok(await verify(pk, ...split(sig), statement))
  const altered = Buffer.from(statement)
  altered.writeUInt8(altered.readUInt8(altered.length - 1) ^ 1, altered.length - 1)
  assert.not.ok(await verify(pk, ...split(sig), altered), 'an altered statement')
  assert.not.ok(await verify(hexlify(keyPair().publicKey), ...split(sig), statement), 'another key')
  const badS = Buffer.from(sig)
  badS.writeUInt8(badS.readUInt8(63) | 0xf0, 63) // S >= L
  assert.not.ok(await verify(pk, ...split(badS), statement), 'S not reduced')
  // gas, as a transaction that records the outcome
  const ed = await send(v, 'verifyAndRecord', pk, ...split(sig), statement)
  assert.ok(await v.getFunction('last')())
  console.log(`gas: one ed25519 verification in Solidity (${statement.length}-byte statement) ${ed.gasUsed} incl. 21,000 base and calldata; ` +
    `the court's ecrecover path costs 3,000 for the precompile plus the EIP-712 hashing (~75,000 per counted statement in accuse, storage included)`)
  assert.ok(ed.gasUsed > 100_000n, 'ed25519 without a precompile is expensive')
})

t.run()
