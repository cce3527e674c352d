/**
 * Synthetic telemetry at scale, for the console's load test: N agents
 * (retained presence on M sites, a heartbeat each per second, a telemetry
 * rollup each per 5 s) and job events at a set rate from two gateways with
 * their rolling stats — all valid messages (presence and heartbeats signed by
 * each agent's own key), published over real MQTT.
 * Bounded: it runs until stopped or `maxSeconds`, whichever comes first.
 */
import { randomBytes } from 'node:crypto'
import type { MqttClient } from 'mqtt'
import { RollingWindow } from '../../market/rolling-window.ts'
import { identityFromSeed } from '../../protocol/identity.ts'
import { signHeartbeat, signOnline } from '../../protocol/presence-signature.ts'
import { telemetryTopics, type JobEvent } from '../../protocol/telemetry.ts'
import { plainClient } from './mqtt-clients.ts'

export interface SyntheticMesh {
  ids: string[]
  /** Job events published so far. */
  jobs(): number
  stop(): Promise<void>
}

const CODES = ['trap', 'deadline', 'fuel_exhausted', 'exit_nonzero']

export async function startSyntheticMesh(brokerUrl: string, opts: { agents: number; sites: number; jobsPerSecond: number; maxSeconds: number }): Promise<SyntheticMesh> {
  const client: MqttClient = await plainClient(brokerUrl, { clientId: `fm-synthetic-${randomBytes(3).toString('hex')}` })
  const module = 'a'.repeat(64)
  const agents = Array.from({ length: opts.agents }, (_, i) => {
    const identity = identityFromSeed(randomBytes(32))
    const site = i % opts.sites
    return {
      id: identity.id,
      publicKey: identity.publicKeyHex,
      signer: identity.signer,
      name: `synthetic-${String(i + 1).padStart(4, '0')}`,
      site: `site-${String(site + 1).padStart(2, '0')}`,
      lat: 48.1 + Math.floor(site / 4) * 0.03 + ((i * 7) % 11) * 0.0004,
      lon: 11.5 + (site % 4) * 0.045 + ((i * 5) % 13) * 0.0004,
      ok: 0,
      failed: 0,
    }
  })
  const since = Date.now()
  const acked: Promise<unknown>[] = []
  for (const a of agents) {
    const presence = signOnline({
      status: 'online', id: a.id, name: a.name, publicKey: a.publicKey, version: '0.1.0',
      capacity: { cores: 4, memoryMiB: 4096, arch: 'arm64', platform: 'linux', slots: 4 },
      labels: { site: a.site, lat: a.lat.toFixed(5), lon: a.lon.toFixed(5) },
      price: { perJob: 1 + (a.name.length % 3) },
      limits: { fuel: 1e12, memoryMiB: 256, timeoutMs: 60000, outputBytes: 1048576, inputBytes: 1048576 },
      defaults: { fuel: 1e10, memoryMiB: 64, timeoutMs: 10000, outputBytes: 1048576 },
      load: { running: 0, queued: 0 },
      heartbeatMs: 1000,
      since,
      epoch: since,
      seq: 0,
    }, a.signer)
    acked.push(client.publishAsync(`fm/v1/agents/${a.id}/presence`, JSON.stringify(presence), { qos: 1, retain: true })) // as agents publish it
  }
  await Promise.all(acked) // every presence is on the broker before `ready`
  const sources = ['synthetic-gw-1', 'synthetic-gw-2'].map((source) => ({ source, window: new RollingWindow(), ok: 0, failed: 0, errors: {} as Record<string, number> }))
  let published = 0
  let tick = 0
  let seq = 0
  const timers: NodeJS.Timeout[] = []
  const every = (ms: number, fn: () => void) => timers.push(setInterval(fn, ms))
  // heartbeats: a tenth of the agents every 100 ms, so each beats once a second
  every(100, () => {
    const slice = tick++ % 10
    for (let i = slice; i < agents.length; i += 10) {
      const a = agents[i]!
      const beat = signHeartbeat({ id: a.id, epoch: since, seq: tick, load: { running: (i + tick) % 5, queued: (i * tick) % 3 } }, a.signer)
      client.publish(`fm/v1/agents/${a.id}/heartbeat`, JSON.stringify(beat), { qos: 0 })
    }
  })
  // job events in batches every 250 ms, split over the two gateways
  every(250, () => {
    const per = Math.round(opts.jobsPerSecond / 4 / sources.length)
    const now = Date.now()
    for (const s of sources) {
      const events: JobEvent[] = []
      for (let k = 0; k < per; k++) {
        const a = agents[(seq * 31) % agents.length]!
        const failed = seq % 50 === 0
        const latencyMs = 1 + ((seq * 13) % 40) / 4
        const e: JobEvent = {
          id: `syn-${++seq}@${s.source.slice(-1)}00000000000`, module, status: failed ? 'error' : 'ok',
          ...(failed ? { code: CODES[seq % CODES.length]! } : {}),
          agent: a.id, latencyMs, durationMs: latencyMs / 3, attempts: 1, fuel: 40_000 + (seq % 1000), ts: now,
        }
        events.push(e)
        s.window.record(now, !failed, latencyMs, e.code)
        if (failed) {
          s.failed++
          a.failed++
          s.errors[e.code!] = (s.errors[e.code!] ?? 0) + 1
        } else {
          s.ok++
          a.ok++
        }
      }
      published += events.length
      client.publish(telemetryTopics.jobs(s.source), JSON.stringify({ v: 1, source: s.source, ts: now, events, dropped: 0 }), { qos: 0 })
    }
  })
  every(1000, () => {
    const now = Date.now()
    for (const s of sources) {
      const stats = { v: 1, source: s.source, kind: 'gateway', ts: now, ...s.window.snapshot(now), totals: { ok: s.ok, failed: s.failed, inFlight: 0, errors: s.errors, auctions: 0, dropped: 0 } }
      client.publish(telemetryTopics.stats(s.source), JSON.stringify(stats), { qos: 0, retain: true })
    }
  })
  // each agent's rollup every 5 s
  every(500, () => {
    for (let i = tick % 10; i < agents.length; i += 10) {
      const a = agents[i]!
      const t = { v: 1, agent: a.id, ts: Date.now(), jobs: { ok: a.ok, failed: a.failed, byCode: a.failed ? { trap: a.failed } : {}, fuel: (a.ok + a.failed) * 40_000 } }
      client.publish(telemetryTopics.agent(a.id), JSON.stringify(t), { qos: 0, retain: true })
    }
  })
  const deadline = setTimeout(() => stop(), opts.maxSeconds * 1000)
  let stopped: Promise<void> | undefined
  const stop = () => {
    stopped ??= (async () => {
      clearTimeout(deadline)
      for (const t of timers) clearInterval(t)
      // no retained leftovers for whoever uses the broker next
      for (const a of agents) {
        client.publish(`fm/v1/agents/${a.id}/presence`, '', { qos: 0, retain: true })
        client.publish(telemetryTopics.agent(a.id), '', { qos: 0, retain: true })
      }
      for (const s of sources) client.publish(telemetryTopics.stats(s.source), '', { qos: 0, retain: true })
      await client.endAsync()
    })()
    return stopped
  }
  return { ids: agents.map((a) => a.id), jobs: () => published, stop }
}
