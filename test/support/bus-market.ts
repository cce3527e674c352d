/**
 * A market on the twins, for fast unit tests: an in-memory bus, a manual
 * clock, scripted agents and a real Requester on them. Nothing listens on a
 * socket and no time passes unless the test advances the clock.
 */
import { Requester, type RequesterOptions } from '../../market/requester.ts'
import { ManualClock, settle } from '../../protocol/manual-clock.ts'
import { MemoryBus } from '../../protocol/transport/memory-bus.ts'
import { ScriptedAgent, type ScriptedAgentOptions } from './scripted-agent.ts'

export interface BusMarket {
  bus: MemoryBus
  clock: ManualClock
  agents: ScriptedAgent[]
  requester: Requester
  /** Lets every delivery and promise chain in flight finish. */
  quiet(): Promise<void>
  close(): Promise<void>
}

/** A module id for jobs: scripted agents do not fetch modules. */
export const MODULE = 'ab'.repeat(32)

export async function startBusMarket(agents: ScriptedAgentOptions[], requester: Partial<RequesterOptions> = {}): Promise<BusMarket> {
  const bus = new MemoryBus()
  const clock = new ManualClock()
  const started: ScriptedAgent[] = []
  for (const [i, o] of agents.entries()) started.push(await ScriptedAgent.start(bus, { name: `s${i + 1}`, clock, ...o }))
  const r = await Requester.start({ broker: bus, clock, ...requester })
  await r.directory.waitFor(started.length, 1000)
  const quiet = async () => {
    for (let i = 0; i < 3; i++) {
      await bus.flush()
      await settle()
    }
  }
  return {
    bus,
    clock,
    agents: started,
    requester: r,
    quiet,
    async close() {
      await r.close()
      for (const a of started) await a.conn.close()
    },
  }
}
