/**
 * An admitted assignment (agent/admission.ts: signed, accepted, its nonce
 * taken once), from there to signed result: checked against what the agent
 * offers (input size, limits), its module fetched and loaded, run on the
 * executor, and answered with a signed result — an error result too, with a
 * stable code, when the job could not run. Every assignment taken gets
 * exactly one answer. A sealed job's output is sealed back to the
 * requester's box key, and its result signed as a sealed result over salted
 * hashes (protocol/signature.ts); its error messages carry no stderr (that
 * is the job's output too). For a requester that verifies batches
 * (`batchResults`) the results of one event-loop turn share one signature
 * over their Merkle root, each carrying its proof (protocol/batch-signer.ts).
 */
import { sha256Hex } from '../protocol/sha256.ts'
import { BlobError } from '../protocol/blobs/blob-error.ts'
import { ErrorCode, FogmeshError, toFogmeshError } from '../protocol/errors.ts'
import { limitsAbove } from '../protocol/eligibility.ts'
import type { PresenceOnline, Result } from '../protocol/messages.ts'
import { frameSalted, jobSealContext, type Sealer } from '../protocol/seal.ts'
import { BatchSigner, type BatchSignerOptions } from '../protocol/batch-signer.ts'
import { resultStatement, signResult, type Signer } from '../protocol/signature.ts'
import type { Admitted, RunnableJob } from './admission.ts'
import type { Executor, RunOutcome } from './engine/executor.ts'
import type { BlobFetcher } from './blob-fetcher.ts'
import type { ModuleStore } from './module-store.ts'
import type { ResultAttestor } from './result-attestation.ts'

/** What the agent offers a job: the most it may ask for, and what it gets when it asks for nothing. */
export interface JobTerms {
  limits: PresenceOnline['limits']
  defaults: PresenceOnline['defaults']
}

export interface AssignmentRunnerOptions {
  agentId: string
  signer: Signer
  executor: Executor
  modules: ModuleStore
  terms: JobTerms
  /** Seals the output of sealed jobs. */
  sealer: Sealer
  /** Fetches content-addressed inputs (`inputBlob`); absent: such jobs fail `blob_not_found`. */
  blobs?: BlobFetcher | undefined
  /** The co-signer of results for the court an assignment names (`attest`), loaded on first need. */
  attestor?: (() => Promise<ResultAttestor>) | undefined
  /** How results of requesters that verify batches (`batchResults`) are batched (protocol/batch-signer.ts); false: each signed alone. */
  resultBatches?: BatchSignerOptions | false | undefined
}

export class AssignmentRunner {
  private readonly running = new Set<Promise<Result>>()
  private pendingModules_ = 0
  private closing = false
  /** Signs the results of a turn together (for requesters that say `batchResults`). */
  readonly batches: BatchSigner | undefined

  constructor(private readonly o: AssignmentRunnerOptions) {
    this.batches = o.resultBatches === false ? undefined : new BatchSigner('result', o.signer, o.resultBatches)
  }

  /** Jobs waiting for their module (they count as queued). */
  get pendingModules(): number {
    return this.pendingModules_
  }

  /** Assignments taken and not answered yet. */
  get inFlight(): number {
    return this.running.size
  }

  /** A signed error result for an admitted assignment the agent will not run (e.g. its requester is over its quota). */
  refuse(a: Admitted, code: ErrorCode, message: string): Result {
    const result: Omit<Result, 'signature'> = { ...this.resultBase(a), status: 'error', error: { code, message }, fuel: 0, durationMs: 0 }
    return { ...result, signature: signResult(result, this.o.signer) }
  }

  /** Runs an admitted assignment to its signed result; never rejects for job faults. */
  run(a: Admitted): Promise<Result> {
    const p = this.answer(a).finally(() => this.running.delete(p))
    this.running.add(p)
    return p
  }

  /** From now on assignments are answered `closed` without running. */
  stopTaking(): void {
    this.closing = true
  }

  /** Resolves when every assignment taken so far was answered. */
  async idle(): Promise<void> {
    while (this.running.size > 0) await Promise.allSettled([...this.running])
  }

  private async answer(a: Admitted): Promise<Result> {
    const { job, salt } = a
    const outcome = await this.execute(job)
    // a sealed job's inputSha256 is the signed salted commitment the admission checked
    const base = this.resultBase(a)
    let result: Omit<Result, 'signature'>
    if (outcome.status === 'ok') {
      const output = Buffer.from(outcome.output.buffer, outcome.output.byteOffset, outcome.output.byteLength)
      const fuel = outcome.fuel
      const durationMs = round(outcome.durationMs)
      if (salt) {
        const framed = frameSalted(salt, output)
        const sealedOutput = this.o.sealer.seal(framed, job.replyKey!, jobSealContext('result', job.id, this.o.agentId))
        result = { ...base, status: 'ok', sealedOutput, outputSha256: sha256(framed), fuel, durationMs }
      } else {
        result = { ...base, status: 'ok', output: output.toString('base64'), outputSha256: sha256(output), fuel, durationMs }
      }
    } else {
      const message = outcome.stderr && !salt ? `${outcome.message}: ${outcome.stderr.slice(0, 1024)}` : outcome.message
      result = { ...base, status: 'error', error: { code: outcome.code, message }, fuel: outcome.fuel, durationMs: round(outcome.durationMs) }
    }
    // an unreadable attester key leaves the result without a co-signature (the requester refuses it), never unanswered
    const attestor = job.attest && this.o.attestor ? await this.o.attestor().catch(() => undefined) : undefined
    const attestation = attestor?.attest(job, result, this.o.terms.defaults)
    if (attestation) result.attestation = attestation
    if (!job.batchResults || !this.batches) return { ...result, signature: signResult(result, this.o.signer) }
    const s = await this.batches.sign(resultStatement(result), this.running.size <= 1) // a lone job: signed at once
    return { ...result, signature: s.signature, ...(s.batch ? { batch: s.batch } : {}) }
  }

  /** inputSha256: what admission checked (a sealed job's salted commitment, an inline input's hash), what the blob fetch checks, else hashed here (a stream window). */
  private resultBase({ job, salt, inputChecked }: Admitted) {
    const signedHash = (salt || job.inputBlob || inputChecked) && job.inputSha256 !== undefined
    return { type: 'result' as const, id: job.id, attempt: job.attempt, agent: this.o.agentId, module: job.module, inputSha256: signedHash ? job.inputSha256! : sha256(job.input), ...(salt ? { sealed: true } : {}) }
  }

  /** A job's `inputBlob`, verified chunk by chunk and as a whole against the signed `inputSha256`. */
  private async fetchInput(job: RunnableJob): Promise<Buffer> {
    const root = job.inputBlob as string
    if (!this.o.blobs) throw new BlobError(ErrorCode.blobNotFound, root, 'this agent fetches no blob inputs')
    const { bytes, manifest } = await this.o.blobs.resolve(root)
    if (manifest.sha256 !== job.inputSha256) {
      throw new BlobError(ErrorCode.blobHashMismatch, root, `blob ${root} holds content ${manifest.sha256}; the assignment signed ${job.inputSha256}`)
    }
    return bytes
  }

  private async execute(job: RunnableJob): Promise<RunOutcome> {
    const started = performance.now()
    const { limits, defaults } = this.o.terms
    if (this.closing) return failure(new FogmeshError(ErrorCode.closed, 'agent is shutting down'), started)
    if (job.input.length > limits.inputBytes) {
      return failure(new FogmeshError(ErrorCode.tooLarge, `input is ${job.input.length} bytes; this agent takes at most ${limits.inputBytes}`), started)
    }
    const why = limitsAbove(limits, job.limits)
    if (why) return failure(new FogmeshError(ErrorCode.limitExceeded, why), started)
    this.pendingModules_++
    let input = job.input
    try {
      // the module and a content-addressed input, fetched side by side
      const [, blob] = await Promise.all([this.o.modules.get(job.module), job.inputBlob ? this.fetchInput(job) : undefined])
      if (blob) input = blob
    } catch (err) {
      return failure(err, started)
    } finally {
      this.pendingModules_--
    }
    // run() rejects only when it does not take the job (overloaded, closed): that, too, gets a signed answer
    return this.o.executor
      .run({
        jobId: job.id,
        module: job.module,
        input,
        limits: {
          timeoutMs: job.limits?.timeoutMs ?? defaults.timeoutMs,
          outputBytes: job.limits?.outputBytes ?? defaults.outputBytes,
          stderrBytes: 4096,
          fuel: job.limits?.fuel ?? defaults.fuel,
          memoryMiB: job.limits?.memoryMiB ?? defaults.memoryMiB,
          // clock and random derived from the job id: anyone re-running it gets the same bytes
          deterministic: true,
        },
      })
      .catch((err: unknown) => failure(err, started))
  }
}

/** A job that did not run: its error as an outcome (module level: a named closure per job costs tsx's __name, a defineProperty). */
function failure(err: unknown, started: number): RunOutcome {
  const e = toFogmeshError(err)
  return { status: 'error', code: e.code, message: e.shortMessage, stderr: '', fuel: 0, durationMs: performance.now() - started }
}

const sha256 = sha256Hex
const round = (ms: number) => Math.round(ms * 1000) / 1000
