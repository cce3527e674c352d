/**
 * The model job form (docs/contract.md): a job that names a model and carries
 * its input tensor, on `fm/v1/jobs/submit` like any job:
 *
 *   {"id", "model": "<sha256 of a model file on fm/v1/models/<sha256>>",
 *    "tensor": {"shape": [rows, width], "data": [numbers...]}, "replyTo", ...}
 *
 * It runs as the job `{module: model, input: <the tensor as JSON>}`: the agent
 * loads a model like a module (same store, same executor), so everything a job
 * has — limits, constraints, price, the signed result — a model job has too.
 */
import { jobSubmitSchema, MAX_INPUT_BYTES, type JobSubmit } from './messages.ts'
import { array, decodeJson, number, object, parseValue, sha256Hex, type Decoded } from './validate.ts'

export const tensorSchema = object({
  shape: array(number({ min: 1, max: 1_000_000, integer: true }), { max: 2 }),
  data: array(number({ min: -3.4e38, max: 3.4e38 }), { max: 1_000_000 }),
})

/** A job submission in either form (a module and base64 input, or a model and a tensor), as the job it runs. */
export function decodeJobSubmit(payload: Buffer): Decoded<JobSubmit> {
  if (payload.length > 4 * 1024 * 1024) return decodeJson(payload, jobSubmitSchema, 4 * 1024 * 1024)
  let raw: unknown
  try {
    raw = JSON.parse(payload.toString('utf8'))
  } catch {
    return decodeJson(payload, jobSubmitSchema, MAX_INPUT_BYTES)
  }
  if (typeof raw !== 'object' || raw === null) return parseValue(raw, jobSubmitSchema)
  raw = blobInputForm(raw as Record<string, unknown>)
  if (!('model' in (raw as object))) return parseValue(raw, jobSubmitSchema)
  const { model, tensor, ...rest } = raw as Record<string, unknown>
  const m = parseValue({ model, tensor }, modelPartSchema)
  if (!m.ok) return m
  const input = Buffer.from(JSON.stringify(m.value.tensor)).toString('base64')
  return parseValue({ ...rest, module: m.value.model, input }, jobSubmitSchema)
}

const modelPartSchema = object({ model: sha256Hex, tensor: tensorSchema })

/** `"input": {"sha256": "<hex>"}` (a content-addressed input, docs/contract.md) is carried as `inputBlob`. */
function blobInputForm(raw: Record<string, unknown>): Record<string, unknown> {
  const input = raw.input
  if (typeof input !== 'object' || input === null || Array.isArray(input) || 'inputBlob' in raw) return raw
  const { input: _input, ...rest } = raw
  return { ...rest, inputBlob: input }
}
