/**
 * Many hosts at once: at most `concurrency` in flight (SSH, uploads and installs are
 * bounded by it), each host's steps passed on as events, every host reported at the
 * end — the ones that failed with their one-line cause, none of them stopping the rest.
 */
import { EventEmitter } from 'node:events'
import { checkNumber } from '../../protocol/options.ts'
import { toFogmeshError } from '../../protocol/errors.ts'
import { HostProvisioner, type ProvisionedHost, type ProvisionEvents, type ProvisionOptions } from './provision-host.ts'
import { ProvisionError, ProvisionReason } from './provision-error.ts'
import type { SshTarget } from './ssh-target.ts'

export const DEFAULT_CONCURRENCY = 4

export type HostOutcome = { ok: true; target: SshTarget; result: ProvisionedHost } | { ok: false; target: SshTarget; error: ProvisionError }

export interface FleetEvents extends ProvisionEvents {
  done: [HostOutcome]
}

export class FleetProvisioner extends EventEmitter<FleetEvents> {
  private readonly host: HostProvisioner

  constructor(options: ProvisionOptions, private readonly concurrency = DEFAULT_CONCURRENCY) {
    super()
    checkNumber('provision.concurrency', concurrency, { min: 1, max: 256, integer: true })
    this.host = new HostProvisioner(options)
    this.host.on('step', (s) => this.emit('step', s))
  }

  async run(targets: SshTarget[]): Promise<HostOutcome[]> {
    const out: HostOutcome[] = new Array(targets.length)
    let next = 0
    const worker = async () => {
      for (;;) {
        const i = next++
        if (i >= targets.length) return
        const target = targets[i]!
        let o: HostOutcome
        try {
          o = { ok: true, target, result: await this.host.provision(target) }
        } catch (err) {
          const e = err instanceof ProvisionError ? err : new ProvisionError(target.label, ProvisionReason.installFailed, toFogmeshError(err).shortMessage)
          o = { ok: false, target, error: e }
        }
        out[i] = o
        this.emit('done', o)
      }
    }
    await Promise.all(Array.from({ length: Math.min(this.concurrency, targets.length) }, worker))
    return out
  }
}
