/**
 * A module made ready to run, whichever form it came in: a preview1 command (checked,
 * metered and compiled: prepare-job.ts) or a component (transpiled, metered and compiled:
 * ../component/prepare.ts). Prepared once, where the bytes arrive; structured-cloneable,
 * so it can be posted to every worker thread.
 */
import type { ModuleInfo } from '../executor.ts'
import { isComponent } from '../component/header.ts'
import { prepareComponent } from '../component/prepare.ts'
import type { PreparedComponent } from '../component/prepare.ts'
import { compileJobAsync } from './prepare-job.ts'
import type { PreparedJob } from './prepare-job.ts'

export type Runnable =
  | { info: ModuleInfo; job: PreparedJob; component?: undefined }
  | { info: ModuleInfo; job?: undefined; component: PreparedComponent }

/**
 * Prepares `bytes` (named by their sha256) to run as a job. Throws a JobError when it
 * cannot: `invalid_module`, `not_a_command`, `link_error`, `module_hash_mismatch`.
 */
export async function prepareRunnable(sha256: string, bytes: Uint8Array): Promise<Runnable> {
  if (isComponent(bytes)) {
    // V8 cannot compile a component: jco transpiles it (once, here) into JS and core modules
    const component = await prepareComponent(sha256, bytes)
    return { info: { sha256, kind: component.info.kind, imports: component.info.imports }, component }
  }
  // check the original, meter it and move its memory under the host's control: once, here, not per worker
  return compileJobAsync(sha256, bytes)
}
