/**
 * Fair service in the gateway: who may have how much of the mesh.
 *
 * A sensor is the submitter the broker vouches for (`fm/v1/jobs/submit/<name>`
 * with authentication) or else the job's `replyTo`. Each sensor has a rate
 * (token bucket), a cap on jobs in flight and on jobs waiting; all sensors
 * together have caps on jobs in flight, jobs waiting and input bytes held.
 * Waiting jobs leave in deficit round robin (fair-queue.ts) by input bytes.
 *
 * The rate paces a sensor, it does not refuse it: a job over its sensor's rate
 * waits in that sensor's queue until the bucket has a token (`waitMs` says when
 * to look again). Only a job over a cap (a queue full, the input bytes held) is
 * refused with `overloaded`, and refusals are answered at a bounded rate per
 * sensor (the rest are counted), so a flood of jobs does not turn into a flood
 * of answers. Refusing over the rate instead lost jobs of well-behaved sensors:
 * a sensor keeping 32 jobs in flight (each sent when one is answered) faster
 * than its rate had its jobs refused, the quick refusal answers made it send
 * again at once, and past the refusal rate the refusals went unanswered — each
 * one a job the sensor waited for forever, until all 32 were gone.
 */
import { TokenBucket } from '../protocol/token-bucket.ts'
import { FairQueue } from './fair-queue.ts'

export interface AdmissionLimits {
  /** Jobs in flight through the mesh, all sensors together. */
  maxInFlight: number
  /** Jobs in flight for one sensor. */
  maxInFlightPerSensor: number
  /** Jobs waiting for a slot, all sensors together. */
  maxQueued: number
  /** Jobs waiting for one sensor. */
  maxQueuedPerSensor: number
  /** Input bytes of the jobs waiting and in flight, all sensors together. */
  maxInputBytesInFlight: number
  /** Jobs a second of one sensor that start (token bucket; burst: twice that); more wait in its queue. */
  jobsPerSecondPerSensor: number
  /** Refusals a second answered to one sensor (the rest are counted, not answered). */
  refusalsPerSecondPerSensor: number
  /** Sensors tracked at once (an idle one is forgotten first). */
  maxSensors: number
}

export const ADMISSION_DEFAULTS: AdmissionLimits = {
  maxInFlight: 256,
  maxInFlightPerSensor: 32,
  maxQueued: 10_000,
  maxQueuedPerSensor: 1000,
  maxInputBytesInFlight: 64 * 1024 * 1024,
  jobsPerSecondPerSensor: 200,
  refusalsPerSecondPerSensor: 20,
  maxSensors: 10_000,
}

/**
 * A submission this large (bytes of JSON) is a large job. Large jobs may hold at most half of
 * `maxInputBytesInFlight`: past that one is refused before its JSON is parsed (parsing megabytes
 * is what a gateway under a flood of big inputs would spend its time on), so small jobs always
 * find room and the gateway keeps up with what the broker hands it.
 */
export const LARGE_SUBMISSION_BYTES = 64 * 1024

/** DRR credit per round: 8 KiB of input (a job costs its input bytes plus 1 KiB). */
const QUANTUM = 8 * 1024
const JOB_OVERHEAD = 1024

interface Sensor {
  rate: TokenBucket
  refusals: TokenBucket
  inFlight: number
}

export type Verdict = { ok: true } | { ok: false; limit: keyof AdmissionLimits; answer: boolean }

export interface AdmissionStats {
  queued: number
  inFlight: number
  inputBytes: number
  sensors: number
  refused: Partial<Record<keyof AdmissionLimits, number>>
  unanswered: number
  /** Jobs that waited for their sensor's rate (`jobsPerSecondPerSensor`) before they ran. */
  paced: number
}

export class GatewayAdmission<J> {
  private readonly sensors = new Map<string, Sensor>()
  private readonly queue = new FairQueue<{ job: J; bytes: number }>(QUANTUM)
  private inFlight = 0
  /** Jobs that waited for their sensor's rate before they ran. */
  private paced = 0
  private inputBytes = 0
  private largeBytes = 0
  private readonly refused: AdmissionStats['refused'] = {}
  private unanswered = 0

  constructor(private readonly limits: AdmissionLimits, private readonly now: () => number = () => performance.now()) {}

  /**
   * Whether a submission of `payloadBytes` must be refused before it is parsed (a large job while
   * large jobs hold half the input budget). Counted; such refusals are not answered (nobody to answer: it was not read).
   */
  refuseUnparsed(payloadBytes: number): boolean {
    if (payloadBytes <= LARGE_SUBMISSION_BYTES) return false
    // base64 inside JSON: the input is about three quarters of the submission
    if (this.largeBytes + (payloadBytes * 3) / 4 <= this.limits.maxInputBytesInFlight / 2) return false
    this.refused.maxInputBytesInFlight = (this.refused.maxInputBytesInFlight ?? 0) + 1
    this.unanswered++
    return true
  }

  /** Queues `job` of `sensor` (with `bytes` of input), or says which limit refuses it and whether to answer. */
  offer(sensor: string, job: J, bytes: number): Verdict {
    const l = this.limits
    const s = this.sensor(sensor)
    const refuse = (limit: keyof AdmissionLimits): Verdict => {
      this.refused[limit] = (this.refused[limit] ?? 0) + 1
      const answer = s.refusals.take(this.now())
      if (!answer) this.unanswered++
      return { ok: false, limit, answer }
    }
    if (this.queue.lengthOf(sensor) >= l.maxQueuedPerSensor) return refuse('maxQueuedPerSensor')
    if (this.queue.size >= l.maxQueued) return refuse('maxQueued')
    if (this.inputBytes + bytes > l.maxInputBytesInFlight) return refuse('maxInputBytesInFlight')
    this.inputBytes += bytes
    if (bytes > LARGE_SUBMISSION_BYTES / 2) this.largeBytes += bytes
    this.queue.push(sensor, { job, bytes }, bytes + JOB_OVERHEAD)
    return { ok: true }
  }

  /** The next job to run, in fair order, when there is room in flight; the caller calls `done` when it is answered. */
  next(): { sensor: string; job: J; bytes: number } | undefined {
    if (this.inFlight >= this.limits.maxInFlight) return undefined
    const now = this.now()
    // a sensor's job starts when the sensor has room in flight and a token of its rate; else it keeps its place
    const n = this.queue.next((key) => {
      const s = this.sensor(key)
      return s.inFlight < this.limits.maxInFlightPerSensor && s.rate.waitMs(now) === 0
    })
    if (!n) return undefined
    const s = this.sensor(n.key)
    s.rate.take(now)
    this.inFlight++
    s.inFlight++
    return { sensor: n.key, job: n.item.job, bytes: n.item.bytes }
  }

  /**
   * When `next` may give a job that it cannot give now only because of sensors' rates: ms from
   * now (undefined when nothing waits for a rate — jobs wait for room in flight, or none wait).
   */
  waitMs(): number | undefined {
    if (this.inFlight >= this.limits.maxInFlight) return undefined
    const now = this.now()
    let least: number | undefined
    for (const key of this.queue.keys()) {
      const s = this.sensors.get(key)
      if (!s || s.inFlight >= this.limits.maxInFlightPerSensor) continue
      const w = s.rate.waitMs(now)
      if (least === undefined || w < least) least = w
    }
    return least
  }

  /** Counts a job that waited for its sensor's rate (the gateway's pacing timer found it). */
  countPaced(): void {
    this.paced++
  }

  done(sensor: string, bytes: number): void {
    this.inFlight--
    this.inputBytes -= bytes
    if (bytes > LARGE_SUBMISSION_BYTES / 2) this.largeBytes -= bytes
    const s = this.sensors.get(sensor)
    if (s) s.inFlight--
  }

  /** Jobs still waiting (on close: to be answered as closed). */
  drain(): J[] {
    const jobs = this.queue.drain().map((x) => x.job)
    this.inputBytes = 0
    this.largeBytes = 0
    return jobs
  }

  stats(): AdmissionStats {
    return { queued: this.queue.size, inFlight: this.inFlight, inputBytes: this.inputBytes, sensors: this.sensors.size, refused: { ...this.refused }, unanswered: this.unanswered, paced: this.paced }
  }

  private sensor(key: string): Sensor {
    let s = this.sensors.get(key)
    if (s) return s
    if (this.sensors.size >= this.limits.maxSensors) this.forgetIdle()
    const now = this.now()
    const r = this.limits.jobsPerSecondPerSensor
    s = { rate: new TokenBucket(r, r * 2, now), refusals: new TokenBucket(this.limits.refusalsPerSecondPerSensor, this.limits.refusalsPerSecondPerSensor, now), inFlight: 0 }
    this.sensors.set(key, s)
    return s
  }

  /** Forgets the oldest sensors with nothing queued or in flight (their buckets start full again, which is fair). */
  private forgetIdle(): void {
    for (const [key, s] of this.sensors) {
      if (this.sensors.size < this.limits.maxSensors) return
      if (s.inFlight === 0 && this.queue.lengthOf(key) === 0) this.sensors.delete(key)
    }
  }
}
