/**
 * protocol/voucher.ts without a chain: known-answer vectors for the type hash, the domain
 * separator, the digest and a signature (RFC 6979: deterministic); the fast path equals ethers'
 * generic EIP-712 encoder and signTypedData; the off-chain rules name the contract's errors;
 * out-of-range fields are refused naming the field. (The same digest on-chain:
 * contracts/channels/vouchers.test.ts.)
 *
 *   node --import tsx protocol/voucher.test.ts
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { computeAddress, keccak256, Signature, toUtf8Bytes, Wallet } from 'ethers'
import { ValidationError } from './errors.ts'
import {
  FastVoucherSigner,
  SECP256K1_N,
  verifyVoucher,
  voucherDigest,
  voucherDomain,
  VoucherHasher,
  VOUCHER_TYPE_STRING,
  VOUCHER_TYPES,
  type Voucher,
} from './voucher.ts'

// anvil's first dev key ("test test ... junk", m/44'/60'/0'/0/0)
const KEY = '0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80'
const OTHER = '0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d'
const domain = voucherDomain(31337, '0x000000000000000000000000000000000000f003')
const v: Voucher = { channelId: 1n, cumulativeAmount: 1000n, resultsRoot: `0x${'ab'.repeat(32)}`, jobCount: 7n }

test('known answers: type hash, domain separator, digest, signature', async () => {
  assert.is(keccak256(toUtf8Bytes(VOUCHER_TYPE_STRING)), '0xf5717fd7e44a5d62a9b9a66aeb879db2077738f46965dbe0ce15927986b387a5')
  const hasher = new VoucherHasher(domain)
  assert.is(hasher.domainSeparator, '0xff5762da78c6e661319b3e00060b31b1ba5f8e3207f1b415bb48ac1d6391cf41')
  assert.is(hasher.digest(v), '0xec128a319b25a4cebf6c7ff0adfcfd7de9522285896a9072b65dc03ec464c517')
  assert.is(voucherDigest(domain, v), hasher.digest(v), 'the fast path equals the generic encoder')
  const sig = new FastVoucherSigner(KEY, hasher).sign(v)
  assert.is(sig, '0xff52a962155c24a2f137d0758b0364dc99a64981f721826d3c200afe1e946fb451ef8caa58a7051bdadd24abf45bedaef3ad9d76dda2d1a93dfe4585a4c47d301b')
  assert.is(await new Wallet(KEY).signTypedData(domain, VOUCHER_TYPES, { ...v }), sig, 'the same as signTypedData')
})

test('verifyVoucher: the contract\'s rules, named after its errors', () => {
  const hasher = new VoucherHasher(domain)
  const requester = computeAddress(KEY)
  const sig = new FastVoucherSigner(KEY, hasher).sign(v)
  const reason = (r: { ok: boolean }) => (r as { reason?: string }).reason
  assert.equal(verifyVoucher(v, sig, { hasher, requester }), { ok: true, signer: requester, digest: hasher.digest(v) })
  assert.is(reason(verifyVoucher(v, sig, { hasher, requester, channelId: 2n })), 'WrongChannel')
  assert.is(reason(verifyVoucher(v, sig, { hasher, requester, previous: { cumulativeAmount: 1000n, jobCount: 1n } })), 'NothingToSettle')
  assert.is(reason(verifyVoucher(v, sig, { hasher, requester, deposit: 999n })), 'VoucherExceedsDeposit')
  assert.is(reason(verifyVoucher(v, sig, { hasher, requester, previous: { cumulativeAmount: 1n, jobCount: 8n } })), 'JobCountDecreased')
  assert.is(reason(verifyVoucher(v, new FastVoucherSigner(OTHER, hasher).sign(v), { hasher, requester })), 'InvalidVoucherSigner')
  assert.is(reason(verifyVoucher(v, Signature.from(sig).compactSerialized, { hasher, requester })), 'ECDSAInvalidSignatureLength')
  const s = Signature.from(sig)
  const highS = (SECP256K1_N - BigInt(s.s)).toString(16).padStart(64, '0')
  assert.is(reason(verifyVoucher(v, `${s.r}${highS}${s.v === 27 ? '1c' : '1b'}`, { hasher, requester })), 'ECDSAInvalidSignatureS')
  assert.is(reason(verifyVoucher(v, `${sig.slice(0, 130)}00`, { hasher, requester })), 'ECDSAInvalidSignature')
  assert.is(reason(verifyVoucher(v, 'garbage', { hasher, requester })), 'ECDSAInvalidSignatureLength')
  // a voucher for another contract or chain does not verify for this one
  const elsewhere = new FastVoucherSigner(KEY, voucherDomain(1, domain.verifyingContract as string)).sign(v)
  assert.is(reason(verifyVoucher(v, elsewhere, { hasher, requester })), 'InvalidVoucherSigner')
})

test('out-of-range fields are refused, naming the field', () => {
  const hasher = new VoucherHasher(domain)
  const field = (bad: Partial<Voucher>) => {
    try {
      hasher.digest({ ...v, ...bad })
    } catch (e) {
      assert.instance(e, ValidationError)
      return (e as ValidationError).field
    }
    return undefined
  }
  assert.is(field({ channelId: -1n }), 'voucher.channelId')
  assert.is(field({ cumulativeAmount: 1n << 256n }), 'voucher.cumulativeAmount')
  assert.is(field({ jobCount: 1n << 64n }), 'voucher.jobCount')
  assert.is(field({ resultsRoot: '0x1234' }), 'voucher.resultsRoot')
  assert.is(field({ resultsRoot: 'not hex' }), 'voucher.resultsRoot')
  assert.is(field({ jobCount: (1n << 64n) - 1n }), undefined)
})

test.run()
