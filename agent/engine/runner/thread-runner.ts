/**
 * Runs whatever was loaded — a prepared preview1 module or a component — in this thread,
 * one job at a time: what a job worker (../worker/worker.main.ts) and the inline executor
 * (../executor/inline-executor.ts) are built around. The deadline is not watched here:
 * a run is synchronous and only a thread's owner can cut it short.
 */
import { ComponentRunner } from '../component/component-runner.ts'
import type { ComponentRunnerOptions } from '../component/component-runner.ts'
import type { PreparedComponent } from '../component/prepare.ts'
import type { StdioCaps } from '../wasi/host.ts'
import { JobRunner } from './job-runner.ts'
import type { JobRunnerOptions } from './job-runner.ts'
import type { PreparedJob } from './prepare-job.ts'
import type { Runnable } from './runnable.ts'
import type { RunnerLimits, RunnerResult } from './runner-result.ts'

/** What both runners take (clock, random, default budgets). */
export type ThreadRunnerOptions = JobRunnerOptions & Pick<ComponentRunnerOptions, keyof JobRunnerOptions>

export class ThreadRunner {
  private readonly jobs: JobRunner
  private readonly components: ComponentRunner

  constructor(options: ThreadRunnerOptions = {}) {
    this.jobs = new JobRunner(options)
    this.components = new ComponentRunner(options)
  }

  /** Keeps a module or component prepared elsewhere (`prepareRunnable`). */
  load(sha256: string, runnable: Runnable): void {
    if (runnable.component !== undefined) this.components.add(runnable.component)
    else this.jobs.load(sha256, runnable.job)
  }

  /** Keeps a prepared preview1 module; a compiled original module runs unmetered (see JobRunner.load). */
  loadJob(sha256: string, job: PreparedJob | WebAssembly.Module): void {
    this.jobs.load(sha256, job)
  }

  loadComponent(component: PreparedComponent): void {
    this.components.add(component)
  }

  has(sha256: string): boolean {
    return this.components.has(sha256) || this.jobs.has(sha256)
  }

  run(sha256: string, input: Uint8Array, caps: StdioCaps, limits: RunnerLimits): RunnerResult {
    return this.components.has(sha256) ? this.components.run(sha256, input, caps, limits) : this.jobs.run(sha256, input, caps, limits)
  }
}
