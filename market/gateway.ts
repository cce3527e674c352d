/**
 * The gateway: runs the market for clients that can only publish MQTT.
 *
 * A sensor publishes the job JSON of docs/contract.md on `fm/v1/jobs/submit`; the gateway
 * validates it, runs it through a Requester, and publishes the verified result
 * (or an error result with a stable code) on the job's `replyTo`. Bad input is
 * answered when it names a usable `replyTo`, counted always, and never takes
 * the gateway down. A job id submitted again to the same `replyTo` is answered
 * once. Results carry the sensor's `id` and the mesh's `jobId` (what the agent
 * signed): `<id>@<first 12 hex of sha256(replyTo)>`.
 *
 * Authenticated clients submit on `fm/v1/jobs/submit/<name>` and are answered
 * under `fm/v1/replies/<name>/…`, their jobs run as `<id>@<name>` (submit-scope.ts).
 *
 * Sealed jobs (`"sealed": true`, and sensors that seal their own leg) are
 * handled in sealed-submissions.ts; the gateway's keys are in its signed,
 * retained presence on `fm/v1/gateways/<id>/presence`, republished if
 * anything else appears there. Every answer it publishes is signed by its
 * key (`gateway`, `gatewaySignature`: protocol/forwarded-result.ts), so a
 * sensor can tell its answers from anything else published on its replyTo.
 */
import { EventEmitter } from 'node:events'
import { systemClock, type Clock, type Timer } from '../protocol/clock.ts'
import { ErrorCode, toFogmeshError, ValidationError, type FogmeshError } from '../protocol/errors.ts'
import { ephemeralIdentity, loadOrCreateIdentityFile, type KeyIdentity } from '../protocol/identity.ts'
import { Sealer } from '../protocol/seal.ts'
import { signForwarded } from '../protocol/forwarded-result.ts'
import type { JobSubmit } from '../protocol/messages.ts'
import { decodeJobSubmit } from '../protocol/model-job.ts'
import { RecentSet } from '../protocol/recent-set.ts'
import { mergeOptions, type Ranges } from '../protocol/options.ts'
import { topics } from '../protocol/topics.ts'
import { connectorFor, type Connection } from '../protocol/transport.ts'
import { id as idParser, parseValue, publishTopic } from '../protocol/validate.ts'
import { ADMISSION_DEFAULTS, GatewayAdmission, type AdmissionLimits, type AdmissionStats } from './gateway-admission.ts'
import { resultToWire, type JobAnswer } from './job.ts'
import { CEILING_DEFAULTS, overCeiling, type LimitsCeiling } from './limits-ceiling.ts'
import { Requester, type RequesterOptions } from './requester.ts'
import { gatewayPresence, sealReply, submissionInput } from './sealed-submissions.ts'
import { dedupeKeyOf, meshJobIdOf, replyRefusal, submitterOf } from './submit-scope.ts'
import { StreamPlacer } from './streams/stream-placer.ts'
import { JobJournal } from './job-journal.ts'

export interface GatewayOptions extends Omit<RequesterOptions, 'connection'>, Partial<AdmissionLimits> {
  /** Remembered job ids for duplicate detection (default 100,000). */
  dedupeWindow?: number
  /** The most a job may ask for (`limits`) through this gateway (limits-ceiling.ts). */
  ceiling?: Partial<LimitsCeiling>
  /** Stream jobs placed at once (default 1,000). */
  maxStreams?: number

  /**
   * A job journal file (market/job-journal.ts): jobs are on disk before they are
   * acknowledged, answered once across restarts, and the gateway keeps one MQTT
   * persistent session and inbox. Default none (all in memory).
   */
  journal?: string | undefined
  /**
   * With a journal: how long an accepted job that found no agent or lost the ones
   * it ran on (no_agents, agent_failed — e.g. the site's agents behind a cut link) is held and retried
   * as agents come back, before it is answered with that error. Default 60,000 ms.
   */
  holdUnplacedMs?: number
  /** Without `identity`: the requester key file to load (created if absent) — plain data, for a gateway in a worker or process. */
  identityFile?: string
}

/** How long resumed jobs wait for a first agent to show up after a restart. */
const RESUME_WAIT_MS = 5000
/** Between two tries of a held job. */
const HOLD_RETRY_MS = 1000
const DEFAULTS = { ...ADMISSION_DEFAULTS, dedupeWindow: 100_000, maxStreams: 1000, holdUnplacedMs: 60_000 }
const RANGES: Ranges<GatewayOptions> = {
  maxInFlight: { min: 1, max: 10_000_000, integer: true },
  maxInFlightPerSensor: { min: 1, max: 10_000_000, integer: true },
  maxQueued: { min: 0, max: 10_000_000, integer: true },
  maxQueuedPerSensor: { min: 0, max: 10_000_000, integer: true },
  maxInputBytesInFlight: { min: 1024, max: 2 ** 40, integer: true },
  jobsPerSecondPerSensor: { min: 1, max: 10_000_000 },
  refusalsPerSecondPerSensor: { min: 1, max: 10_000_000 },
  maxSensors: { min: 1, max: 10_000_000, integer: true },
  dedupeWindow: { min: 1, max: 10_000_000, integer: true },
  maxStreams: { min: 0, max: 1_000_000, integer: true },
  holdUnplacedMs: { min: 0, max: 86_400_000, integer: true },
}

export interface GatewayStats {
  received: number
  ok: number
  failed: number
  invalid: number
  duplicates: number
  inFlight: number
  /** Error results by code, for operators. */
  errors: Record<string, number>
  /** Fair service: waiting, in flight, refused by which limit, refusals not answered. */
  admission: AdmissionStats
}

export interface GatewayEvents {
  result: [{ id: string; replyTo: string; result: JobAnswer }]
  invalid: [{ code: string; message: string; answered: boolean }]
}

/** A job taken in: its input in the clear (opened when the sensor sealed it), and whether it travels sealed. */
type Accepted = JobSubmit & { input: Buffer; sealedJob: boolean }

export class Gateway extends EventEmitter<GatewayEvents> {
  private readonly stats_: Omit<GatewayStats, 'admission'> = { received: 0, ok: 0, failed: 0, invalid: 0, duplicates: 0, inFlight: 0, errors: {} }
  private readonly seen: RecentSet
  private readonly admission: GatewayAdmission<{ job: Accepted; submitter: string | undefined }>
  private readonly ceiling: LimitsCeiling
  private readonly sealer: Sealer
  private readonly presenceTopic: string
  private readonly presencePayload: string
  private readonly clock: Clock
  private healTimer: Timer | undefined
  /** Set while waiting jobs wait only for their sensors' rates: pumps again when the first may start. */
  private paceTimer: Timer | undefined
  /** Stream jobs (`fm/v1/streams/submit`): placed, moved on failover, paid per window. */
  streams!: StreamPlacer

  private readonly holdUnplacedMs: number

  private constructor(
    readonly requester: Requester,
    private readonly conn: Connection,
    private readonly identity: KeyIdentity,
    options: AdmissionLimits & { dedupeWindow: number; holdUnplacedMs: number; ceiling?: Partial<LimitsCeiling> | undefined; clock?: Clock | undefined },
    readonly journal: JobJournal | undefined,
  ) {
    super()
    this.holdUnplacedMs = options.holdUnplacedMs
    this.seen = new RecentSet(options.dedupeWindow)
    this.admission = new GatewayAdmission(options)
    this.ceiling = mergeOptions(options.ceiling, CEILING_DEFAULTS, {}, 'gateway.ceiling')
    this.sealer = new Sealer(identity.box)
    this.clock = options.clock ?? systemClock
    this.presenceTopic = topics.gatewayPresence(identity.id)
    this.presencePayload = JSON.stringify(gatewayPresence(identity, 'gateway', this.clock.now()))
  }

  /** The gateway's id (sealed jobs name it in `sealedTo`): its requester key's id, what agents list in --accept-from. */
  get id(): string {
    return this.identity.id
  }

  /** Its ed25519 key: what sensors check `gatewaySignature` with. */
  get publicKey(): string {
    return this.identity.publicKeyHex
  }

  static async start(options: GatewayOptions): Promise<Gateway> {
    const opts = mergeOptions(options, DEFAULTS, RANGES, 'gateway')
    const name = options.credentials?.username
    const journal = opts.journal !== undefined ? JobJournal.open(opts.journal, { dedupeWindow: opts.dedupeWindow }) : undefined
    // submits that come before the gateway is up: the persistent session's queue, sent right after CONNACK
    let gw: Gateway | undefined
    const early = new EarlySubmits(journal)
    const onSubmit = (t: string, p: Buffer) => (gw ? gw.onSubmit(t, p) : early.take(t, p))
    // with a journal: one identity across restarts, so the broker keeps the session (and queues submits) while it is down
    const conn = await connectorFor(opts.broker)
      .connect({
        clientId: journal ? `${name ?? 'fm-gateway'}:${journal.id}` : `${name ?? 'fm-gateway'}:${process.pid}-${Date.now().toString(36)}`,
        routes: [[topics.submit, onSubmit], [topics.submitAsWildcard, onSubmit]],
        // many packets a turn (assignments, answers, acknowledgements): one socket write per turn
        writesPerTurn: true,
        ...(journal ? { clean: false } : {}),
        ...(options.credentials ? { credentials: options.credentials } : {}),
      })
      .catch((err: unknown) => {
        journal?.close()
        throw err
      })
    const identity = opts.identity ?? (opts.identityFile ? loadOrCreateIdentityFile(opts.identityFile, 'fogmesh-requester-identity') : ephemeralIdentity())
    let requester: Requester
    try {
      // with a journal and no key kept on disk: the inbox (requester id) still stays one across restarts
      const keepId = journal && !opts.identity && !opts.identityFile && !opts.id && !options.credentials?.username
      // answers go to sensors with the agent's signature in them: single-signed, as docs/contract.md step 3 checks them
      requester = await Requester.start({ ...options, identity, connection: conn, batchResults: false, ...(keepId ? { id: `r${journal.id}` } : {}) })
    } catch (err) {
      await conn.close().catch(() => {})
      journal?.close()
      throw err
    }
    gw = new Gateway(requester, conn, identity, opts, journal)
    // held before it was up: taken in now, as if they came now (the journaled ones are on disk already)
    for (const e of early.drain()) {
      gw.onSubmit(e.topic, e.payload, e.journaled)
      // journaled and then refused (a limit, a replyTo it may not use, sealed to another gateway): answered or not, settled
      if (e.journaled && gw.admittedKey !== e.key) gw.settle(e.key!, e.replyTo!)
    }
    await conn.subscribe([topics.submit, topics.submitAsWildcard], 1)
    // after a restart the directory fills from retained presences first: the resumed jobs then find their agents
    if (journal) void requester.directory.waitFor(1, RESUME_WAIT_MS).catch(() => {}).then(() => gw!.resume(journal))
    gw.streams = new StreamPlacer({
      conn, directory: requester.directory, requesterId: requester.id, identity, payer: requester.payer, takes: (a) => requester.takes(a), clock: options.clock ?? systemClock,
      maxStreams: opts.maxStreams, paidWindow: opts.dedupeWindow, site: options.site,
    })
    await gw.streams.start()
    await gw.advertise()
    return gw
  }

  private async advertise(): Promise<void> {
    this.conn.route(this.presenceTopic, (_t, p) => {
      if (p.toString('utf8') === this.presencePayload || this.healTimer) return
      this.healTimer = this.clock.setTimeout(() => {
        this.healTimer = undefined
        this.conn.publish(this.presenceTopic, this.presencePayload, { qos: 1, retain: true })
      }, 1000, { unref: true })
    })
    this.conn.on('connect', this.republish)
    await this.conn.publishAsync(this.presenceTopic, this.presencePayload, { qos: 1, retain: true })
    await this.conn.subscribe(this.presenceTopic, 1)
  }

  private readonly republish = () => this.conn.publish(this.presenceTopic, this.presencePayload, { qos: 1, retain: true })

  stats(): GatewayStats {
    return { ...this.stats_, errors: { ...this.stats_.errors }, admission: this.admission.stats() }
  }

  /** The key of the last submission taken in (for EarlySubmits: whether a journaled one was). */
  private admittedKey: string | undefined

  /** A journaled job that will not run: settled in the journal (not run again, nothing to deliver). */
  private settle(key: string, replyTo: string): void {
    if (!this.journal?.has(key) || this.journal.unanswered().every((j) => j.key !== key)) return
    this.journal.answer(key, replyTo, '')
    this.journal.markDelivered(key)
  }

  /** `journaled`: held by EarlySubmits before the gateway was up, and already on disk. */
  private onSubmit(topic: string, payload: Buffer, journaled = false): void {
    this.stats_.received++
    if (this.admission.refuseUnparsed(payload.length)) {
      this.stats_.failed++
      this.stats_.errors[ErrorCode.overloaded] = (this.stats_.errors[ErrorCode.overloaded] ?? 0) + 1
      return
    }
    const submitter = submitterOf(topic)
    const d = decodeJobSubmit(payload) // a module job, or a model job (a model and its tensor)
    if (!d.ok) return this.onInvalid(submitter, payload, d.error)
    const submitted: JobSubmit = d.value
    const opened = submissionInput(submitted, this.id, this.sealer)
    if ('notOurs' in opened) return // sealed to another gateway: its job, not ours
    if ('error' in opened) return this.onInvalid(submitter, payload, opened.error)
    const job: Accepted = { ...submitted, input: opened.input, sealedJob: submitted.sealed === true || submitted.sealedInput !== undefined }
    const refusal = replyRefusal(submitter, job.replyTo)
    if (refusal) return this.onInvalid(submitter, payload, new ValidationError('replyTo', refusal))
    const key = dedupeKeyOf(submitter, job.id, job.replyTo)
    if ((!journaled && this.journal?.has(key)) || !this.seen.add(key)) {
      this.stats_.duplicates++
      return
    }
    const over = overCeiling(job.limits, this.ceiling)
    if (over) return this.answer(job.replyTo, errorWire(job.id, ErrorCode.limitExceeded, over), ErrorCode.limitExceeded)
    // the sensor: the submitter the broker vouches for (fm/v1/jobs/submit/<name>), else the job's replyTo
    const verdict = this.admission.offer(submitter ?? `replyTo:${job.replyTo}`, { job, submitter }, job.input.length)
    if (!verdict.ok) {
      this.stats_.failed++
      this.stats_.errors[ErrorCode.overloaded] = (this.stats_.errors[ErrorCode.overloaded] ?? 0) + 1
      if (verdict.answer) this.publish(job.replyTo, errorWire(job.id, ErrorCode.overloaded, `gateway limit ${verdict.limit} reached; try again later`))
      return
    }
    // on disk before this handler returns, so before the PUBACK (mqtt.js acknowledges after the handler)
    if (!journaled) this.journal?.accept(key, payload, topic)
    this.admittedKey = key
    this.pump()
  }

  /** After a restart: answers journaled but not delivered go out again; accepted jobs run again. */
  private resume(journal: JobJournal): void {
    if (this.closing) return
    for (const a of journal.undelivered()) this.deliver(a.key, a.replyTo, a.wire)
    for (const j of journal.unanswered()) {
      const d = decodeJobSubmit(j.payload)
      if (!d.ok) continue
      const opened = submissionInput(d.value, this.id, this.sealer)
      if (!('input' in opened)) continue // sealed to a key this gateway no longer holds: nothing to run
      const job: Accepted = { ...d.value, input: opened.input, sealedJob: d.value.sealed === true || d.value.sealedInput !== undefined }
      const submitter = submitterOf(j.topic ?? topics.submit)
      // taken in by this start already (submitted again, or held before the gateway was up): running
      if (!this.seen.add(j.key)) continue
      const verdict = this.admission.offer(submitter ?? `replyTo:${job.replyTo}`, { job, submitter }, job.input.length)
      if (!verdict.ok) this.answer(job.replyTo, errorWire(job.id, ErrorCode.overloaded, `gateway limit ${verdict.limit} reached; try again later`), ErrorCode.overloaded, j.key)
    }
    this.pump()
  }

  /** Runs waiting jobs, in fair order, while there is room in flight. */
  private pump(paced = false): void {
    for (let n = this.admission.next(); n; n = this.admission.next()) {
      if (paced) this.admission.countPaced()
      this.run(n.sensor, n.job.job, n.job.submitter, n.bytes)
    }
    if (this.paceTimer || this.closing) return
    const wait = this.admission.waitMs()
    if (wait === undefined) return
    this.paceTimer = this.clock.setTimeout(() => {
      this.paceTimer = undefined
      this.pump(true)
    }, Math.max(1, wait))
  }

  private run(sensor: string, job: Accepted, submitter: string | undefined, bytes: number): void {
    const key = dedupeKeyOf(submitter, job.id, job.replyTo)
    const since = this.clock.now()
    this.stats_.inFlight++
    const finished = () => {
      this.stats_.inFlight--
      this.admission.done(sensor, bytes)
      this.pump()
    }
    // sensors pick their own ids (often counters): two sensors may both send id "1".
    // The mesh runs the job as `<id>@<name>` or `<id>@<hash of replyTo>` (submit-scope.ts).
    const meshId = meshJobIdOf(submitter, job.id, job.replyTo)
    const attempt = (firstAttempt: number) =>
      this.requester
        .submit({
          id: meshId,
          module: job.module,
          input: job.input,
          ...(job.inputBlob ? { inputBlob: { sha256: job.inputBlob.sha256 } } : {}),
          ...(job.sealedJob ? { sealed: true } : {}),
          ...(job.limits ? { limits: job.limits } : {}),
          ...(job.constraints ? { constraints: job.constraints } : {}),
          ...(job.maxPrice !== undefined ? { maxPrice: job.maxPrice } : {}),
          ...(job.redundancy !== undefined ? { redundancy: job.redundancy } : {}),
          ...(job.quorum !== undefined ? { quorum: job.quorum } : {}),
          ...(firstAttempt > 1 ? { firstAttempt } : {}),
        })
        .then(
          (result) => {
            const code = result.error?.code
            if (this.journal && !this.closing && (code === ErrorCode.noAgents || code === ErrorCode.agentFailed) && this.clock.now() - since < this.holdUnplacedMs) {
              // journaled, so held (its place in flight kept): tried again, its attempts counted on, until an agent takes it or the hold runs out
              this.requester.forget(meshId)
              const next = firstAttempt + Math.max(1, result.attempts)
              this.clock.setTimeout(() => (this.closing ? finished() : attempt(next)), HOLD_RETRY_MS)
              return
            }
            finished()
            const wire = { ...resultToWire(result), id: job.id, jobId: meshId }
            this.answer(job.replyTo, job.sealedJob ? sealReply(wire, job, this.sealer) : wire, code, key)
            this.emit('result', { id: job.id, replyTo: job.replyTo, result })
          },
          (err: unknown) => {
            // submit() answers job faults itself; this is the mesh failing (e.g. the connection closing)
            finished()
            const e = toFogmeshError(err)
            this.answer(job.replyTo, errorWire(job.id, e.code, e.shortMessage), e.code, key)
          },
        )
    attempt(1)
  }

  private publish(replyTo: string, wire: Record<string, unknown>): void {
    this.conn.publish(replyTo, JSON.stringify(this.signed(wire)), { qos: 1 })
  }

  /** The answer with the gateway's id and signature (over everything but the output bytes, whose hash it covers). */
  private signed(wire: Record<string, unknown>): Record<string, unknown> {
    return signForwarded(wire, this.identity)
  }

  private answer(replyTo: string, wire: Record<string, unknown>, errorCode: string | undefined, key?: string): void {
    if (errorCode === undefined) this.stats_.ok++
    else {
      this.stats_.failed++
      this.stats_.errors[errorCode] = (this.stats_.errors[errorCode] ?? 0) + 1
    }
    const text = JSON.stringify(this.signed(wire))
    if (key === undefined || !this.journal) return this.conn.publish(replyTo, text, { qos: 1 })
    // a requester closing mid-job is the gateway stopping, not an answer: the job runs again after the restart
    if (this.closing || errorCode === ErrorCode.closed) return
    this.journal.answer(key, replyTo, text)
    this.deliver(key, replyTo, text)
  }

  /** Publishes a journaled answer; marks it delivered once the broker has it (mqtt.js retries QoS 1 across reconnects). */
  private deliver(key: string, replyTo: string, text: string): void {
    this.conn.publishAsync(replyTo, text, { qos: 1 }).then(
      () => {
        if (!this.journalClosed) this.journal?.markDelivered(key)
      },
      () => {}, // closed first: still undelivered in the journal, published again at the next start
    )
  }

  /**
   * Answers bad input on its replyTo when it names a usable one (for `<name>`'s jobs: else on
   * `fm/v1/replies/<name>`); counts it either way.
   */
  private onInvalid(submitter: string | undefined, payload: Buffer, error: FogmeshError): void {
    this.stats_.invalid++
    this.stats_.errors[error.code] = (this.stats_.errors[error.code] ?? 0) + 1
    let raw: Record<string, unknown> | undefined
    try {
      const v: unknown = JSON.parse(payload.toString('utf8'))
      if (typeof v === 'object' && v !== null && !Array.isArray(v)) raw = v as Record<string, unknown>
    } catch {
      // not JSON at all: nobody to answer
    }
    const given = raw ? parseValue(raw.replyTo, publishTopic) : undefined
    const usable = given?.ok && replyRefusal(submitter, given.value) === undefined ? given.value : undefined
    const replyTo = usable ?? (submitter !== undefined ? topics.replies(submitter) : undefined)
    const id = raw ? parseValue(raw.id, idParser) : undefined
    const answered = replyTo !== undefined
    if (replyTo !== undefined) {
      this.publish(replyTo, errorWire(id?.ok ? id.value : null, error.code, error.shortMessage))
    }
    this.emit('invalid', { code: error.code, message: error.shortMessage, answered })
  }

  private closing = false
  private journalClosed = false

  async close(): Promise<void> {
    this.closing = true
    this.healTimer?.cancel()
    this.paceTimer?.cancel()
    this.conn.off('connect', this.republish)
    this.conn.unroute(this.presenceTopic)
    // with a journal the session persists (the broker keeps queueing submits for the next start),
    // and the jobs still waiting stay accepted in the journal: they run after the restart
    await this.conn.unsubscribe(this.journal ? [this.presenceTopic] : [topics.submit, topics.submitAsWildcard, this.presenceTopic]).catch(() => {})
    const waiting = this.admission.drain()
    if (!this.journal) for (const { job } of waiting) this.answer(job.replyTo, errorWire(job.id, ErrorCode.closed, 'gateway closed'), ErrorCode.closed)
    await this.streams.close()
    // the gateway is gone: sensors must not seal to it any more
    await this.conn.publishAsync(this.presenceTopic, '', { qos: 1, retain: true }).catch(() => {})
    await this.requester.close()
    await this.conn.close().catch(() => {})
    this.journalClosed = true
    this.journal?.close()
  }
}

/** Submits held in memory while the gateway is starting; past it, journaled ones still run after the next start. */
const EARLY_LIMIT = 10_000

/**
 * Submits that arrive before the gateway is up (a persistent session's queue, sent right after
 * CONNACK). With a journal each is on disk before its handler returns — before mqtt.js's PUBACK —
 * so a crash in between still runs it after the next start (it is an accepted job then).
 */
class EarlySubmits {
  private held: Array<{ topic: string; payload: Buffer; journaled: boolean; key?: string | undefined; replyTo?: string | undefined }> = []

  constructor(private readonly journal: JobJournal | undefined) {}

  take(topic: string, payload: Buffer): void {
    // past the bound: journaled only (it runs after the next start), not held
    const hold = this.held.length < EARLY_LIMIT
    const k = this.journal ? keyOf(topic, payload) : undefined
    const journaled = k !== undefined && !this.journal!.has(k.key)
    if (journaled) this.journal!.accept(k.key, payload, topic)
    if (hold && (journaled || k === undefined)) this.held.push({ topic, payload, journaled, key: k?.key, replyTo: k?.replyTo })
  }

  drain(): Array<{ topic: string; payload: Buffer; journaled: boolean; key?: string | undefined; replyTo?: string | undefined }> {
    const out = this.held
    this.held = []
    return out
  }
}

/** The dedupe key of a submission, when it decodes (else undefined: the gateway answers it as invalid). */
function keyOf(topic: string, payload: Buffer): { key: string; replyTo: string } | undefined {
  const d = decodeJobSubmit(payload)
  return d.ok ? { key: dedupeKeyOf(submitterOf(topic), d.value.id, d.value.replyTo), replyTo: d.value.replyTo } : undefined
}

function errorWire(id: string | null, code: string, message: string): Record<string, unknown> {
  return { id, status: 'error', error: { code, message }, fuel: 0, agent: null, signature: null }
}

export const startGateway = (options: GatewayOptions) => Gateway.start(options)
