/**
 * A simulated sensor that is as dumb as a real one: a plain MQTT client that
 * publishes docs/contract.md's job JSON on `fm/v1/jobs/submit` and listens on its own
 * reply topic — or, given credentials, publishes on `fm/v1/jobs/submit/<name>`
 * and listens on `fm/v1/replies/<name>/results`, as `mosquitto_pub -u -P` would. It sends a window of temperature readings every interval and
 * keeps score: answers, failures, latency. Given the gateway's key it takes
 * only answers the gateway signed (protocol/forwarded-result.ts) and counts
 * the rest as forged, by the agent they name.
 */
import { randomBytes } from 'node:crypto'
import { checkForwarded } from '../protocol/forwarded-result.ts'
import { topics } from '../protocol/topics.ts'
import { connect, type ClientCredentials, type Connection } from '../protocol/transport.ts'
import { LatencyHistogram } from './latency.ts'

export interface SensorReport {
  sent: number
  ok: number
  failed: number
  outstanding: number
  errors: Record<string, number>
  perAgent: Record<string, number>
  /** Answers on our replyTo that did not verify, by the agent they name. */
  forged: Record<string, number>
  latency: LatencyHistogram
  last?: string
}

export class SimulatedSensor {
  readonly report: SensorReport = { sent: 0, ok: 0, failed: 0, outstanding: 0, errors: {}, perAgent: {}, forged: {}, latency: new LatencyHistogram() }
  private readonly inflight = new Map<string, number>()
  private readonly readings: number[] = []
  private timer: NodeJS.Timeout | undefined
  private seq = 0
  private readonly replyTo: string
  private readonly submitTopic: string
  private readonly prefix = randomBytes(3).toString('hex')

  private constructor(
    private readonly conn: Connection,
    private readonly module: string,
    readonly name: string,
    authenticated: boolean,
    private readonly gatewayKey: string | undefined,
  ) {
    this.replyTo = authenticated ? `${topics.replies(name)}/results` : `sensors/${name}/results`
    this.submitTopic = authenticated ? topics.submitAs(name) : topics.submit
  }

  /** With `credentials`, the sensor's name is its user name; with `gatewayKey`, it takes only answers that gateway signed. */
  static async start(broker: string, module: string, name = 'sensor-1', credentials?: ClientCredentials, gatewayKey?: string): Promise<SimulatedSensor> {
    const user = credentials?.username ?? name
    const conn = await connect(broker, { clientId: `${credentials ? user : `fm-${name}`}:${randomBytes(3).toString('hex')}`, ...(credentials ? { credentials } : {}) })
    const s = new SimulatedSensor(conn, module, user, credentials !== undefined, gatewayKey)
    conn.route(s.replyTo, (_t, p) => s.onReply(p))
    await conn.subscribe(s.replyTo, 1)
    return s
  }

  /** Submits a job every `intervalMs`. */
  run(intervalMs: number): void {
    this.timer = setInterval(() => this.submit(), intervalMs)
  }

  stop(): void {
    clearInterval(this.timer)
  }

  /** Waits until every sent job is answered, or `ms` passed. */
  async drain(ms: number): Promise<void> {
    const until = Date.now() + ms
    while (this.inflight.size > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 20))
    this.report.outstanding = this.inflight.size
  }

  async close(): Promise<void> {
    this.stop()
    await this.conn.close()
  }

  private reading(): number {
    // a day-like temperature curve with sensor noise
    const t = Date.now() / 1000
    return Math.round((21 + 3 * Math.sin(t / 30) + (Math.random() - 0.5) * 0.4) * 100) / 100
  }

  private submit(): void {
    this.readings.push(this.reading())
    if (this.readings.length > 60) this.readings.shift()
    const id = `${this.name}-${this.prefix}-${this.seq++}`
    const input = Buffer.from(`window=60\n${this.readings.join('\n')}\n`)
    this.inflight.set(id, performance.now())
    this.report.sent++
    this.conn.publish(this.submitTopic, JSON.stringify({ id, module: this.module, input: input.toString('base64'), replyTo: this.replyTo }), { qos: 1 })
  }

  private onReply(payload: Buffer): void {
    let r: { id?: unknown; status?: unknown; output?: unknown; agent?: unknown; error?: { code?: unknown } }
    try {
      r = JSON.parse(payload.toString('utf8'))
    } catch {
      return
    }
    const started = typeof r.id === 'string' ? this.inflight.get(r.id) : undefined
    if (started === undefined) return
    if (this.gatewayKey && checkForwarded(r as Record<string, unknown>, { id: r.id as string, gatewayKey: this.gatewayKey }) !== undefined) {
      const who = typeof r.agent === 'string' ? r.agent : '?'
      this.report.forged[who] = (this.report.forged[who] ?? 0) + 1
      return
    }
    this.inflight.delete(r.id as string)
    this.report.latency.record(performance.now() - started)
    if (r.status === 'ok') {
      this.report.ok++
      if (typeof r.agent === 'string') this.report.perAgent[r.agent] = (this.report.perAgent[r.agent] ?? 0) + 1
      if (typeof r.output === 'string') this.report.last = Buffer.from(r.output, 'base64').toString('utf8').trim()
    } else {
      this.report.failed++
      const code = String(r.error?.code ?? 'unknown')
      this.report.errors[code] = (this.report.errors[code] ?? 0) + 1
    }
  }
}
