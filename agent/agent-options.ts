/**
 * What an agent takes, its defaults and their ranges: merged once at start
 * (`mergeOptions`), an out-of-range value refused with a `ValidationError`
 * naming the field (`agent.slots`, ...).
 */
import { availableParallelism } from 'node:os'
import type { Wallet } from 'ethers'
import type { ChannelsClient } from '../contracts/channels/channels-client.ts'
import type { Clock } from '../protocol/clock.ts'
import { ValidationError } from '../protocol/errors.ts'
import { MAX_FUEL, MAX_INPUT_BYTES, MAX_MODULE_BYTES, MAX_OUTPUT_BYTES } from '../protocol/messages.ts'
import { mergeOptions, type Merged, type Ranges } from '../protocol/options.ts'
import type { BrokerAddress } from '../protocol/transport.ts'
import type { Executor } from './engine/executor.ts'
import type { SettlementPolicy } from './settlement/settler.ts'
import type { UpdaterOptions } from './update/updater.ts'

export interface AgentOptions {
  /** The broker: a URL such as `mqtt://127.0.0.1:1883`, or a connector (e.g. an in-memory `MemoryBus`). */
  broker: BrokerAddress
  /** Where the identity and the module cache live. */
  dataDir: string
  name?: string
  labels?: Record<string, string>
  /** Price per job, in the mesh token's smallest unit. */
  pricePerJob?: number
  /** Jobs run at once; default: the executor's slots, else the device's cores. */
  slots?: number
  /** Jobs waiting beyond the running ones before new ones are refused as `overloaded`; default 64 per slot. */
  queueLimit?: number
  heartbeatMs?: number
  /** How long a bid holds (the lease the requester may use without a new auction). */
  leaseMs?: number
  /** Largest limits this agent accepts, and the defaults for jobs that set none. */
  maxTimeoutMs?: number
  defaultTimeoutMs?: number
  maxFuel?: number
  defaultFuel?: number
  maxMemoryMiB?: number
  defaultMemoryMiB?: number
  maxOutputBytes?: number
  maxInputBytes?: number
  maxModuleBytes?: number
  moduleFetchTimeoutMs?: number
  /** Disk budget of the content-addressed cache (`<dataDir>/blobs`, agent/blob-store.ts; `--blob-cache-bytes`). */
  blobCacheBytes?: number
  /** Largest content-addressed input taken (`--max-blob-bytes`); never more than `blobCacheBytes`. */
  maxBlobBytes?: number
  /** Most chunks of one blob (`--max-blob-chunks`). */
  maxBlobChunks?: number
  /** Wait for one blob piece, the holders' answer included (`--blob-fetch-timeout-ms`). */
  blobFetchTimeoutMs?: number
  /** Bytes a second re-published for others' wants (agent/blob-holder.ts; `--blob-serve-bytes-per-sec`). */
  blobServeBytesPerSec?: number
  /** Assignment nonces remembered (each until its assignment expires) so that a redelivered or replayed assignment runs once. */
  dedupeWindow?: number
  /** Jobs (running and queued) one requester may hold on this agent; default: a quarter of slots + queue, at least the slots. */
  maxJobsPerRequester?: number
  /**
   * Requesters this agent takes work from (agent/admission.ts): their requester ids
   * (sha256 of their key, first 20 hex), or `'any'` for open test meshes. Requesters
   * with a funded payment channel to this agent are accepted too when it takes payment.
   * Default: none listed — an agent without payment runs nobody's jobs until told whose.
   */
  acceptFrom?: 'any' | readonly string[]
  /** Clock difference tolerated between a requester and this agent when checking expiries. */
  maxClockSkewMs?: number
  /** Furthest ahead an assignment's expiry may lie. */
  maxAssignTtlMs?: number
  /** Least time between two republishes of the presence when something else appears on its topic. */
  presenceHealMs?: number
  /**
   * Where job code runs: `process` (default) — a separate executor process with
   * no keys, no data dir, no environment, unprivileged when the agent is root;
   * `thread` — worker threads inside the agent (no process boundary; for
   * measurements and tiny devices that cannot spare a process).
   */
  isolation?: 'process' | 'thread'
  /** Job workers kept started at idle (the rest start when jobs need them; 0: the first job starts one). Default: all `slots`; `fogmesh agent` keeps 1 (each costs ~9 MB). */
  warmWorkers?: number
  /** With `isolation: 'process'`: the executor's uid/gid (default: `nobody` when the agent is root, else the agent's own). */
  executorUser?: { uid: number; gid: number } | 'same'
  /** An executor to use instead of the default (it is closed with the agent). */
  executor?: Executor
  /** Time for heartbeats, module fetch timeouts and shutdown grace (default: the system clock). */
  clock?: Clock
  /** Stream jobs run (as primary or standby) at once; more starts are refused. Default 16. */
  maxStreams?: number
  /** Per stream: windows waiting for the module before the oldest is dropped (counted). Default 8. */
  streamMaxPendingWindows?: number
  /** Per stream: readings held between windows (and by a standby); beyond it the oldest goes. Default 10,000. */
  streamMaxBufferedReadings?: number
  /** Largest reading a stream takes; larger ones are dropped as invalid. Default 4096 bytes. */
  streamMaxReadingBytes?: number
  /** Time windows close this long after their end. Default 200 ms. */
  streamGraceMs?: number
  /** A stream's cold start waits this long for its retained state. Default 500 ms. */
  streamStateWaitMs?: number
  /** Take payment through channels: vouchers are journaled in the data dir and settled by `policy`. */
  payment?: { client: ChannelsClient; wallet: Wallet; policy?: Partial<SettlementPolicy> }
  /** Advertise this agent's stake: its registry account in the VerificationCourt's registry (see `fogmesh stake`). */
  staking?: { chainId: number; court: string; account: string }
  /**
   * The agent always authenticates as its id with a fresh token signed by its key
   * (protocol/agent-token.ts). `password` replaces the token for brokers that cannot
   * check keys (a Mosquitto with `fogmesh auth export`'s files); `ca` trusts a broker's TLS certificate.
   */
  credentials?: { password?: string; ca?: string | Buffer }
  /** The version presence reports (default: this code's; under the OTA supervisor, the release's). */
  version?: string
  /** Follow an OTA release channel (agent/update): fetch, verify and stage what its trusted keys signed. */
  updates?: UpdaterOptions
}

export const AGENT_DEFAULTS = {
  name: 'agent',
  labels: {} as Record<string, string>,
  pricePerJob: 1,
  heartbeatMs: 1000,
  leaseMs: 30_000,
  maxTimeoutMs: 60_000,
  defaultTimeoutMs: 10_000,
  // ~1e9 fuel is about a second of straight-line work on a Pi-class core
  maxFuel: 1e12,
  defaultFuel: 1e10,
  maxMemoryMiB: 256,
  defaultMemoryMiB: 64,
  maxOutputBytes: 1024 * 1024,
  maxInputBytes: 1024 * 1024,
  maxModuleBytes: MAX_MODULE_BYTES,
  moduleFetchTimeoutMs: 1500,
  blobCacheBytes: 256 * 1024 * 1024,
  maxBlobBytes: 64 * 1024 * 1024,
  maxBlobChunks: 16_384,
  blobFetchTimeoutMs: 10_000,
  blobServeBytesPerSec: 16 * 1024 * 1024,
  dedupeWindow: 50_000,
  acceptFrom: [] as 'any' | readonly string[],
  maxClockSkewMs: 300_000,
  maxAssignTtlMs: 3_700_000,
  presenceHealMs: 1000,
  isolation: 'process' as 'process' | 'thread',
  maxStreams: 16,
  streamMaxPendingWindows: 8,
  streamMaxBufferedReadings: 10_000,
  streamMaxReadingBytes: 4096,
  streamGraceMs: 200,
  streamStateWaitMs: 500,
}

/** The ranges follow what the wire accepts (protocol/messages.ts): an agent never advertises what a watcher would refuse. */
const RANGES: Ranges<AgentOptions> = {
  pricePerJob: { min: 0, max: 1e18 },
  slots: { min: 1, max: 4096, integer: true },
  queueLimit: { min: 0, max: 1e6, integer: true },
  heartbeatMs: { min: 100, max: 600_000, integer: true },
  leaseMs: { min: 0, max: 3_600_000, integer: true },
  maxTimeoutMs: { min: 1, max: 3_600_000, integer: true },
  defaultTimeoutMs: { min: 1, max: 3_600_000, integer: true },
  maxFuel: { min: 1, max: MAX_FUEL, integer: true },
  defaultFuel: { min: 1, max: MAX_FUEL, integer: true },
  maxMemoryMiB: { min: 1, max: 4096, integer: true },
  defaultMemoryMiB: { min: 1, max: 4096, integer: true },
  maxOutputBytes: { min: 0, max: MAX_OUTPUT_BYTES, integer: true },
  maxInputBytes: { min: 0, max: MAX_INPUT_BYTES, integer: true },
  maxModuleBytes: { min: 1, max: MAX_MODULE_BYTES, integer: true },
  moduleFetchTimeoutMs: { min: 1, max: 600_000, integer: true },
  blobCacheBytes: { min: 0, max: Number.MAX_SAFE_INTEGER, integer: true },
  maxBlobBytes: { min: 0, max: Number.MAX_SAFE_INTEGER, integer: true },
  maxBlobChunks: { min: 1, max: 1_000_000, integer: true },
  blobFetchTimeoutMs: { min: 1, max: 600_000, integer: true },
  blobServeBytesPerSec: { min: 1, max: Number.MAX_SAFE_INTEGER, integer: true },
  dedupeWindow: { min: 1, max: 10_000_000, integer: true },
  maxClockSkewMs: { min: 0, max: 86_400_000, integer: true },
  maxAssignTtlMs: { min: 1, max: 86_400_000, integer: true },
  presenceHealMs: { min: 1, max: 3_600_000, integer: true },
  maxJobsPerRequester: { min: 1, max: 10_000_000, integer: true },
  maxStreams: { min: 0, max: 10_000, integer: true },
  streamMaxPendingWindows: { min: 1, max: 100_000, integer: true },
  streamMaxBufferedReadings: { min: 1, max: 10_000_000, integer: true },
  streamMaxReadingBytes: { min: 1, max: 1_048_576, integer: true },
  streamGraceMs: { min: 0, max: 600_000, integer: true },
  streamStateWaitMs: { min: 0, max: 60_000, integer: true },
  warmWorkers: { min: 0, max: 4096, integer: true },
}

export type ResolvedAgentOptions = Merged<AgentOptions, typeof AGENT_DEFAULTS> & { slots: number; queueLimit: number; maxJobsPerRequester: number }

/** Merges the defaults once; refuses out-of-range values and defaults above their maximum. */
export function resolveAgentOptions(options: AgentOptions): ResolvedAgentOptions {
  const merged = mergeOptions(options, AGENT_DEFAULTS, RANGES, 'agent')
  for (const [value, max] of [
    ['defaultTimeoutMs', 'maxTimeoutMs'],
    ['defaultFuel', 'maxFuel'],
    ['defaultMemoryMiB', 'maxMemoryMiB'],
  ] as const) {
    if (merged[value] > merged[max]) {
      throw new ValidationError(`agent.${value}`, `at most agent.${max} (${merged[max]}), got ${merged[value]}`)
    }
  }
  if (merged.acceptFrom !== 'any') {
    if (!Array.isArray(merged.acceptFrom)) throw new ValidationError('agent.acceptFrom', `'any' or a list of requester ids`)
    for (const id of merged.acceptFrom) {
      if (typeof id !== 'string' || !/^[0-9a-f]{20}$/.test(id)) throw new ValidationError('agent.acceptFrom', `requester ids of 20 hex characters (got ${JSON.stringify(id)})`)
    }
  }
  const slots = merged.slots ?? merged.executor?.slots ?? Math.max(1, availableParallelism())
  const queueLimit = merged.queueLimit ?? slots * 64
  return { ...merged, slots, queueLimit, maxJobsPerRequester: merged.maxJobsPerRequester ?? Math.max(slots, Math.ceil((slots + queueLimit) / 4)) }
}
