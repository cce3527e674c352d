/**
 * TEST ONLY — executors that misbehave on purpose, wrapped around a real one. Nothing in the
 * CLI or the library can reach them: only the test entry script dishonest-agent.main.ts uses them.
 *
 *   LyingExecutor  flips the output of the jobs `liesOn` picks (one in `every`, chosen from a hash
 *                  of the job id and a seed, so every copy and re-run of a job gets the same lie);
 *                  the agent then signs and co-signs the lie correctly.
 *   advertised slots above the real ones: see dishonest-agent.main.ts (--advertise-slots).
 */
import { createHash } from 'node:crypto'
import type { Executor, ExecutorStats, ModuleInfo, RunOutcome, RunRequest } from '../../agent/engine/executor.ts'

/** Whether a liar with this seed lies on `jobId` (one job in `every`). */
export function liesOn(jobId: string, seed: string, every: number): boolean {
  if (every <= 0) return false
  const h = createHash('sha256').update(`${seed}\u0000${jobId}`).digest()
  return h.readUInt32BE(0) % every === 0
}

export class LyingExecutor implements Executor {
  lies = 0
  constructor(private readonly inner: Executor, private readonly seed: string, private readonly every: number) {}

  get slots(): number {
    return this.inner.slots
  }

  load(sha256: string, bytes: Uint8Array): Promise<ModuleInfo> {
    return this.inner.load(sha256, bytes)
  }

  async run(request: RunRequest): Promise<RunOutcome> {
    const out = await this.inner.run(request)
    if (out.status !== 'ok' || !liesOn(request.jobId, this.seed, this.every)) return out
    this.lies++
    // the same lie from every liar with this seed: colluders agree with each other
    const lie = Buffer.from(`lie:${createHash('sha256').update(`${this.seed}${Buffer.from(out.output).toString('hex')}`).digest('hex')}\n`)
    return { ...out, output: lie }
  }

  stats(): ExecutorStats {
    return this.inner.stats()
  }

  close(): Promise<void> {
    return this.inner.close()
  }

  ready(): Promise<unknown> {
    const r = (this.inner as { ready?: () => Promise<unknown> }).ready
    return r ? r.call(this.inner) : Promise.resolve()
  }
}
