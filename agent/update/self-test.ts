/**
 * The self-test a freshly updated agent must pass before its release is kept: the
 * built-in echo module (self-test-module.ts) loaded and run on the agent's own
 * executor — the path every job takes — with a random input that must come back.
 */
import { createHash, randomBytes } from 'node:crypto'
import type { Executor } from '../engine/executor.ts'
import { SELF_TEST_MODULE } from './self-test-module.ts'

export interface SelfTestResult {
  ok: boolean
  ms: number
  /** What failed, when it did. */
  message?: string
}

export async function runSelfTest(executor: Executor, timeoutMs = 10_000): Promise<SelfTestResult> {
  const t0 = performance.now()
  const sha = createHash('sha256').update(SELF_TEST_MODULE).digest('hex')
  const input = Buffer.from(randomBytes(16).toString('hex'))
  try {
    await executor.load(sha, SELF_TEST_MODULE)
    const out = await executor.run({ jobId: `self-test-${input.toString()}`, module: sha, input, limits: { timeoutMs, outputBytes: 1024, stderrBytes: 1024, fuel: 1e7 } })
    const ms = Math.round(performance.now() - t0)
    if (out.status !== 'ok') return { ok: false, ms, message: `self-test job failed: ${out.code}: ${out.message}` }
    if (!Buffer.from(out.output).equals(input)) return { ok: false, ms, message: 'self-test job answered other bytes than it was given' }
    return { ok: true, ms }
  } catch (err) {
    return { ok: false, ms: Math.round(performance.now() - t0), message: `self-test job not run: ${(err as Error).message.split('\n')[0]}` }
  }
}
