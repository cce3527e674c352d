/**
 * Stream jobs on the wire (docs/contract.md, "Stream jobs"): what a client
 * submits, what the gateway tells agents, the retained stream state a
 * takeover resumes from, and the signed result of one window.
 */
import { createHash } from 'node:crypto'
import { constraintsSchema, payerProofSchema, publicKeyHex, requestedLimitsSchema, resultSchema, signature } from './messages.ts'
import {
  boolean,
  id,
  literal,
  meshJobId,
  number,
  object,
  optional,
  publishTopic,
  sha256Hex,
  string,
  tagged,
  type Infer,
  type Parser,
} from './validate.ts'
import { ValidationError } from './errors.ts'

/** Most readings a count window takes, and the longest time window. */
export const MAX_WINDOW_COUNT = 100_000
export const MAX_WINDOW_MS = 86_400_000

/** `{"count": N}` or `{"ms": T}` — exactly one. */
export const windowSpecSchema: Parser<{ count: number; ms?: undefined } | { ms: number; count?: undefined }> = (v, path) => {
  const w = object({
    count: optional(number({ min: 1, max: MAX_WINDOW_COUNT, integer: true })),
    ms: optional(number({ min: 10, max: MAX_WINDOW_MS, integer: true })),
  })(v, path)
  if ((w.count === undefined) === (w.ms === undefined)) throw new ValidationError(path || 'window', '{"count": N} or {"ms": T}')
  return w.count !== undefined ? { count: w.count } : { ms: w.ms as number }
}
export type WindowSpec = Infer<typeof windowSpecSchema>

/**
 * A topic filter a stream may read: MQTT wildcards as whole levels (`+`, a
 * last `#`), not `#` alone, not a `$` topic, and not the mesh's own control
 * topics (`fm/v1/…` other than the bridge's `fm/v1/bridge/…`).
 */
export const sourceFilter: Parser<string> = (v, path) => {
  const s = string({ min: 1, max: 512, pattern: /^(?!\$)[^\u0000]+$/, describe: 'an MQTT topic filter (max 512 characters)' })(v, path)
  const levels = s.split('/')
  levels.forEach((l, i) => {
    if ((l.includes('+') && l !== '+') || (l.includes('#') && (l !== '#' || i !== levels.length - 1))) {
      throw new ValidationError(path, 'wildcards as whole levels: + anywhere, # last')
    }
  })
  if (levels.every((l) => l === '+' || l === '#')) throw new ValidationError(path, 'a filter with at least one literal level')
  if (s.startsWith('fm/') && !/^fm\/v1\/bridge\//.test(s)) throw new ValidationError(path, 'a sensor topic (fm/v1/… only under fm/v1/bridge/)')
  return s
}

/** A standing job, as any plain MQTT client publishes it on `fm/v1/streams/submit`. */
export const streamSubmitSchema = object({
  id,
  /** A WASM module or a model (`fm/v1/models/<sha256>`), run once per window. */
  module: sha256Hex,
  source: sourceFilter,
  window: windowSpecSchema,
  replyTo: publishTopic,
  constraints: optional(constraintsSchema),
  limits: optional(requestedLimitsSchema),
  maxPrice: optional(number({ min: 0, max: 1e18 })),
})
export type StreamSubmit = Infer<typeof streamSubmitSchema>

export const streamCancelSchema = object({ id, cancel: boolean, replyTo: optional(publishTopic) })
export type StreamCancel = Infer<typeof streamCancelSchema>

/** What a stream runs, as the gateway hands it to an agent. */
export const streamSpecSchema = object({
  /** The stream's key in the mesh (streamKey). */
  stream: meshJobId,
  /** The submitter's id (results carry it, so consumers and actuators dedupe on `id` + `seq`). */
  id,
  module: sha256Hex,
  source: sourceFilter,
  window: windowSpecSchema,
  replyTo: publishTopic,
  limits: optional(requestedLimitsSchema),
  /** Time windows: window `seq` covers [epoch + (seq-1)·ms, epoch + seq·ms) of the readings' `ts`. */
  epoch: number({ min: 0, integer: true }),
})
export type StreamSpec = Infer<typeof streamSpecSchema>

/**
 * What makes a stream start or stop an order from a requester (protocol/stream-control.ts):
 * signed by `requesterKey` over every field, for one `agent`, single-use (`nonce`) and
 * short-lived (`expiresAt`), as assignments are; the agent admits it as it admits those.
 */
const controlAuth = {
  agent: id,
  requesterKey: publicKeyHex,
  nonce: string({ min: 32, max: 32, pattern: /^[0-9a-f]{32}$/, describe: '16 bytes as 32 hex characters' }),
  expiresAt: number({ min: 0, max: Number.MAX_SAFE_INTEGER, integer: true }),
  /** A paying placer: its channel to this agent (an agent that takes payment accepts it by that). */
  payer: optional(payerProofSchema),
  signature,
}

/** Gateway → agent, on `fm/v1/agents/<id>/streams`; signed by the placer. */
export const streamControlSchema = tagged('type', {
  /** Run it (`primary`: windows and results) or shadow it (`standby`: buffer readings, follow the state). A start as primary to a standby promotes it. */
  start: object({
    type: literal('start'),
    role: literal('primary', 'standby'),
    spec: streamSpecSchema,
    /** The placer: window receipts go to its inbox, for payment. */
    requester: id,
    inbox: publishTopic,
    ...controlAuth,
  }),
  stop: object({ type: literal('stop'), stream: meshJobId, ...controlAuth }),
})
export type StreamControl = Infer<typeof streamControlSchema>

/** Where a stream's readings were consumed up to: the last reading of the last published window. */
export const streamCursorSchema = object({
  ts: number({ min: 0 }),
  /** sha256 hex of that reading's payload, to find it among buffered readings with the same ts. */
  digest: sha256Hex,
})
export type StreamCursor = Infer<typeof streamCursorSchema>

/** Retained on `fm/v1/streams/<stream>/state` by the primary after each window's result. */
export const streamStateSchema = object({
  stream: meshJobId,
  agent: id,
  seq: number({ min: 0, integer: true }),
  cursor: optional(streamCursorSchema),
  /** Windows dropped so far (a slow module: the cap, then drop-oldest). */
  dropped: number({ min: 0, integer: true }),
})
export type StreamState = Infer<typeof streamStateSchema>

export const windowMetaSchema = object({
  seq: number({ min: 1, integer: true }),
  /** `ts` of the first and last reading (time windows: the window's bounds). */
  from: number({ min: 0 }),
  to: number({ min: 0 }),
  count: number({ min: 0, integer: true }),
})
export type WindowMeta = Infer<typeof windowMetaSchema>

/**
 * One window's result, on the stream's `replyTo` and (for payment) the placer's
 * inbox: a signed job result (`jobId` = `<stream>:<seq>` is what the agent
 * signed) with the window it covers. `id` + `seq` identify it for consumers.
 */
export const windowResultSchema = (() => {
  const r = resultSchema
  return (v: unknown, path: string) => {
    const base = object({
      type: literal('window'),
      id,
      stream: meshJobId,
      jobId: meshJobId,
      seq: number({ min: 1, integer: true }),
      window: windowMetaSchema,
      dropped: number({ min: 0, integer: true }),
    })(v, path)
    const signed = r({ ...(v as Record<string, unknown>), type: 'result', id: base.jobId, attempt: 1 }, path)
    return { ...signed, ...base }
  }
})()
export type WindowResult = ReturnType<typeof windowResultSchema>

/** The mesh job id a window runs (and is signed and paid) as. */
export const windowJobId = (stream: string, seq: number) => `${stream}:${seq}`

/** A stream's key in the mesh: unique per (replyTo, id), as job ids are at the gateway; short enough for `<key>:<seq>` job ids. */
export function streamKey(id: string, replyTo: string): string {
  return `s${createHash('sha256').update(`${replyTo}\u0000${id}`).digest('hex').slice(0, 24)}`
}
