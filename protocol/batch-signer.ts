/**
 * Signs statements in batches (protocol/batch-signature.ts): what is asked for in one
 * event-loop turn is signed together at its end — one ed25519 signature over the root of their
 * tree, each statement answered with its proof. Bounded both ways: a batch closes at `maxLeaves`
 * statements (signed at once, in the call that fills it) and waits at most `maxWaitMs` (0, the
 * default: the end of the current turn, a `setImmediate` — microseconds, so a lone statement
 * does not wait noticeably). A batch that closes with one statement is signed on its own (the
 * single form). A caller that knows nothing else is in flight (`sign(s, true)`: one job) has it
 * signed at once, in the single form, without waiting for the end of the turn — once per turn:
 * what else comes in that turn is batched as usual.
 */
import { mergeOptions, type Ranges } from './options.ts'
import type { Signer } from './signature.ts'
import { batchStatement, type BatchKind, type BatchProof } from './batch-signature.ts'
import { leafHash, treeWithProofs } from './batch-tree.ts'

export interface BatchSignerOptions {
  /** Statements per batch at most; a full batch is signed at once. Default 32. */
  maxLeaves?: number
  /** The longest a statement waits for others: 0 (default) the end of this turn, else up to 1 ms. */
  maxWaitMs?: number
}

export const BATCH_SIGNER_DEFAULTS = { maxLeaves: 32, maxWaitMs: 0 }
const RANGES: Ranges<BatchSignerOptions> = {
  maxLeaves: { min: 1, max: 1024, integer: true },
  maxWaitMs: { min: 0, max: 1 },
}

/** A statement's signature (base64) and, when it was signed in a batch of more than one, its place there. */
export interface BatchSigned {
  signature: string
  batch?: BatchProof
}

interface Waiting {
  statement: Uint8Array
  resolve: (s: BatchSigned) => void
  reject: (err: unknown) => void
}

export class BatchSigner {
  private readonly o: { maxLeaves: number; maxWaitMs: number }
  private queue: Waiting[] = []
  private scheduled: { cancel(): void } | undefined
  /** A lone statement was signed at once in this turn: the rest of the turn batches. */
  private loneThisTurn = false
  /** Batches signed and statements in them (metrics, benches). */
  readonly stats = { batches: 0, statements: 0 }

  constructor(
    private readonly kind: BatchKind,
    private readonly signer: Signer,
    options?: BatchSignerOptions,
  ) {
    this.o = mergeOptions(options, BATCH_SIGNER_DEFAULTS, RANGES, 'batchSigner')
  }

  /**
   * Signs `statement` (the bytes the single form would sign) with the others of this turn;
   * `alone`: the caller has nothing else in flight — signed at once (see the file comment).
   */
  sign(statement: Uint8Array, alone = false): Promise<BatchSigned> {
    return new Promise<BatchSigned>((resolve, reject) => {
      this.queue.push({ statement, resolve, reject })
      if (alone && this.queue.length === 1 && !this.loneThisTurn) {
        this.loneThisTurn = true
        setImmediate(() => (this.loneThisTurn = false))
        this.flush()
      } else if (this.queue.length >= this.o.maxLeaves) this.flush()
      else if (!this.scheduled) this.scheduled = this.schedule()
    })
  }

  /** Signs what waits now. */
  flush(): void {
    this.scheduled?.cancel()
    this.scheduled = undefined
    const batch = this.queue
    this.queue = []
    if (batch.length === 0) return
    try {
      const signed = this.signBatch(batch.map((w) => w.statement))
      this.stats.batches++
      this.stats.statements += batch.length
      batch.forEach((w, i) => w.resolve(signed[i] as BatchSigned))
    } catch (err) {
      for (const w of batch) w.reject(err)
    }
  }

  private signBatch(statements: Uint8Array[]): BatchSigned[] {
    if (statements.length === 1) return [{ signature: b64(this.signer.sign(statements[0] as Uint8Array)) }]
    const { root, proofs } = treeWithProofs(statements.map(leafHash))
    const rootHex = root.toString('hex')
    const signature = b64(this.signer.sign(batchStatement(this.kind, statements.length, rootHex)))
    return proofs.map((p, index) => ({ signature, batch: { size: statements.length, index, root: rootHex, proof: p.map((h) => h.toString('hex')) } }))
  }

  private schedule(): { cancel(): void } {
    // Timeout and Immediate are cancelled by clearTimeout / clearImmediate; no closure per turn
    // (a named one costs tsx's __name, a defineProperty, each time)
    return this.o.maxWaitMs > 0 ? new TimeoutTurn(setTimeout(this.flushNow, this.o.maxWaitMs)) : new ImmediateTurn(setImmediate(this.flushNow))
  }

  private readonly flushNow = (): void => this.flush()
}

const b64 = (sig: Uint8Array) => Buffer.from(sig).toString('base64')

class TimeoutTurn {
  constructor(private readonly t: NodeJS.Timeout) {}
  cancel(): void {
    clearTimeout(this.t)
  }
}

class ImmediateTurn {
  constructor(private readonly i: NodeJS.Immediate) {}
  cancel(): void {
    clearImmediate(this.i)
  }
}
