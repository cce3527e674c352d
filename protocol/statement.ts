/**
 * Result statements the EVM can check: an agent's secp256k1 co-signature (its attester key, bound
 * to its registry account in the VerificationCourt) over what a job ended with.
 *
 *   domain:  { name: "fogmesh VerificationCourt", version: "1", chainId, verifyingContract: court }
 *   type:    Statement(bytes32 job,uint8 outcome,bytes32 output,uint64 fuel)
 *
 * `job` commits to everything that decides a deterministic run: the mesh job id (the WASI clock
 * and random derive from it), the module, the input, and the fuel, memory and output limits the
 * agent applied. `outcome` is the status as a number: below 64 deterministic (ok, trap, a
 * non-zero exit, fuel or memory or output exhausted, a module that does not link), 64 and up
 * not (a deadline, an internal failure, anything else) — those are never evidence.
 *
 * Signatures are ERC-2098 compact (`r`, `vs`: 64 bytes), what the court's `Vote` takes.
 */
import { Signature, SigningKey, TypedDataEncoder, computeAddress, concat, getAddress, getBytes, keccak256, recoverAddress, type TypedDataDomain, type TypedDataField } from 'ethers'
import { ErrorCode } from './errors.ts'

export const COURT_EIP712_NAME = 'fogmesh VerificationCourt'
export const COURT_EIP712_VERSION = '1'
export const STATEMENT_TYPE_STRING = 'Statement(bytes32 job,uint8 outcome,bytes32 output,uint64 fuel)'
export const ATTESTER_TYPE_STRING = 'Attester(address account)'
export const STATEMENT_TYPES: Record<string, TypedDataField[]> = {
  Statement: [
    { name: 'job', type: 'bytes32' },
    { name: 'outcome', type: 'uint8' },
    { name: 'output', type: 'bytes32' },
    { name: 'fuel', type: 'uint64' },
  ],
}
export const ATTESTER_TYPES: Record<string, TypedDataField[]> = { Attester: [{ name: 'account', type: 'address' }] }

/** Outcomes at or above this are not deterministic: the court refuses them as evidence. */
export const FIRST_NONDETERMINISTIC = 64
const OUTCOME_OTHER = 127

/** Result status → outcome number (extend; never renumber: signatures depend on them). */
export const OUTCOMES: Readonly<Record<string, number>> = {
  ok: 0,
  [ErrorCode.trap]: 1,
  [ErrorCode.exitNonZero]: 2,
  [ErrorCode.fuelExhausted]: 3,
  [ErrorCode.outputLimit]: 4,
  [ErrorCode.memoryLimit]: 5,
  [ErrorCode.invalidModule]: 6,
  [ErrorCode.notACommand]: 7,
  [ErrorCode.linkError]: 8,
  [ErrorCode.deadline]: 64,
  [ErrorCode.internal]: 65,
}

/** The outcome number of a result: 0 for ok, the error code's number, 127 for codes not listed. */
export function outcomeOf(status: 'ok' | 'error', errorCode?: string): number {
  if (status === 'ok') return 0
  return OUTCOMES[errorCode ?? ''] ?? OUTCOME_OTHER
}

export const isDeterministicOutcome = (outcome: number) => outcome < FIRST_NONDETERMINISTIC

/** What decides a deterministic run; the limits are the ones the agent applied (its defaults filled in). */
export interface JobIdentity {
  id: string
  module: string
  inputSha256: string
  fuel: number
  memoryMiB: number
  outputBytes: number
}

const JOB_TAG = keccak256(new TextEncoder().encode('fogmesh/job/v1'))

function word(value: bigint): Uint8Array {
  const out = new Uint8Array(32)
  for (let i = 31; i >= 0 && value > 0n; i--) {
    out[i] = Number(value & 0xffn)
    value >>= 8n
  }
  return out
}

function hex32(hex: string, what: string): Uint8Array {
  const b = Buffer.from(hex.startsWith('0x') ? hex.slice(2) : hex, 'hex')
  if (b.length !== 32) throw new RangeError(`${what}: expected 32 bytes of hex`)
  return b
}

/** keccak256(abi.encode(tag, keccak256(id), module, inputSha256, fuel, memoryMiB, outputBytes)). */
export function jobDigest(j: JobIdentity): string {
  return keccak256(
    concat([
      JOB_TAG,
      keccak256(new TextEncoder().encode(j.id)),
      hex32(j.module, 'module'),
      hex32(j.inputSha256, 'inputSha256'),
      word(BigInt(j.fuel)),
      word(BigInt(j.memoryMiB)),
      word(BigInt(j.outputBytes)),
    ]),
  )
}

export interface Statement {
  /** jobDigest(...) */
  job: string
  outcome: number
  /** 0x sha256 of the output for ok results; ZeroHash otherwise */
  output: string
  fuel: number
}

export const ZERO32 = `0x${'00'.repeat(32)}`

/** The statement of a result: `outputSha256` only for ok results (one encoding per result). */
export function statementOf(job: string, status: 'ok' | 'error', outputSha256: string | undefined, fuel: number, errorCode?: string): Statement {
  const outcome = outcomeOf(status, errorCode)
  return { job, outcome, output: outcome === 0 && outputSha256 ? `0x${outputSha256}` : ZERO32, fuel }
}

/** Compact signature as the court takes it. */
export interface CompactSignature {
  r: string
  vs: string
}

export function courtDomain(chainId: bigint | number, court: string): TypedDataDomain {
  return { name: COURT_EIP712_NAME, version: COURT_EIP712_VERSION, chainId: BigInt(chainId), verifyingContract: getAddress(court) }
}

const STATEMENT_TYPEHASH = getBytes(keccak256(new TextEncoder().encode(STATEMENT_TYPE_STRING)))
const ATTESTER_TYPEHASH = getBytes(keccak256(new TextEncoder().encode(ATTESTER_TYPE_STRING)))

/** EIP-712 digests for one court, the domain separator computed once. */
export class StatementHasher {
  readonly domain: TypedDataDomain
  readonly domainSeparator: string
  readonly #prefix: Uint8Array

  constructor(domain: TypedDataDomain) {
    this.domain = domain
    this.domainSeparator = TypedDataEncoder.hashDomain(domain)
    this.#prefix = getBytes(concat(['0x1901', this.domainSeparator]))
  }

  static for(chainId: bigint | number, court: string): StatementHasher {
    return new StatementHasher(courtDomain(chainId, court))
  }

  structHash(s: Statement): string {
    if (!Number.isInteger(s.outcome) || s.outcome < 0 || s.outcome > 255) throw new RangeError(`statement outcome out of range: ${s.outcome}`)
    if (!Number.isSafeInteger(s.fuel) || s.fuel < 0) throw new RangeError(`statement fuel out of range: ${s.fuel}`)
    return keccak256(concat([STATEMENT_TYPEHASH, hex32(s.job, 'job'), word(BigInt(s.outcome)), hex32(s.output, 'output'), word(BigInt(s.fuel))]))
  }

  digest(s: Statement): string {
    return keccak256(concat([this.#prefix, this.structHash(s)]))
  }

  /** The digest an attester signs to bind itself to `account`. */
  attesterDigest(account: string): string {
    const a = new Uint8Array(32)
    a.set(getBytes(getAddress(account)), 12)
    return keccak256(concat([this.#prefix, keccak256(concat([ATTESTER_TYPEHASH, a]))]))
  }
}

/** An attester: a secp256k1 key that co-signs statements. */
export class Attester {
  readonly #key: SigningKey
  readonly address: string

  constructor(privateKey: string) {
    this.#key = new SigningKey(privateKey)
    this.address = computeAddress(this.#key.publicKey)
  }

  signDigest(digest: string): CompactSignature {
    const sig = this.#key.sign(digest)
    return { r: sig.r, vs: sig.yParityAndS }
  }

  sign(hasher: StatementHasher, s: Statement): CompactSignature {
    return this.signDigest(hasher.digest(s))
  }

  /** Proof of possession for `VerificationCourt.bindAttester`. */
  bindingProof(hasher: StatementHasher, account: string): CompactSignature {
    return this.signDigest(hasher.attesterDigest(account))
  }
}

/** The address that signed `digest`, or undefined (malformed or high-s signatures, as the court refuses them). */
export function recoverSigner(digest: string, sig: CompactSignature): string | undefined {
  try {
    const s = Signature.from({ r: sig.r, yParityAndS: sig.vs })
    if (BigInt(s.s) > SECP256K1_HALF_N) return undefined
    return recoverAddress(digest, s)
  } catch {
    return undefined
  }
}

const SECP256K1_HALF_N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n / 2n

/** The address that signed statement `s`, or undefined. */
export function statementSigner(hasher: StatementHasher, s: Statement, sig: CompactSignature): string | undefined {
  return recoverSigner(hasher.digest(s), sig)
}

/** sha256-free class key: two statements agree when their (outcome, output, fuel) are equal. */
export function resultKey(s: Pick<Statement, 'outcome' | 'output' | 'fuel'>): string {
  return `${s.outcome}:${s.output}:${s.fuel}`
}
