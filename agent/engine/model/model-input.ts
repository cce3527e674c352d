/**
 * What a model job reads and writes. Input, either form:
 *
 * - the tensor job form: JSON `{"shape": [rows, width], "data": [numbers...]}`
 *   (or `[width]` for one row);
 * - a stream window: one reading per line, each a bare number or a JSON
 *   reading with a numeric `value` (the bridge's readings); the last `width`
 *   values make one row, fewer is an error.
 *
 * Output: for an anomaly model one JSON line per row
 * `{"value":0|1,"score":S,"threshold":T}`; for a tensor model
 * `{"shape":[rows, out],"data":[...]}`. Every float is the float32 the model
 * computed, printed as the shortest decimal that reads back to it, so equal
 * tensors give equal bytes.
 */
import { ErrorCode, JobError } from '../../../protocol/errors.ts'
import type { ModelFile } from '../../../protocol/model-file.ts'

/** Most rows one run takes. */
export const MAX_ROWS = 4096

export interface ModelInput {
  rows: number
  width: number
  /** Row-major, float32. */
  data: Float32Array
}

const refuse = (why: string) => new JobError(ErrorCode.invalidField, `input: ${why}`)

export function parseModelInput(bytes: Uint8Array, width: number): ModelInput {
  const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8').trim()
  if (text.startsWith('{') && !text.includes('\n')) {
    let v: unknown
    try {
      v = JSON.parse(text)
    } catch {
      throw refuse('not JSON')
    }
    if (isTensor(v)) return tensorInput(v, width)
  }
  const values: number[] = []
  for (const line of text.split('\n')) {
    const s = line.trim()
    if (s === '') continue
    const n = lineValue(s)
    if (n === undefined) throw refuse(`line ${values.length + 1} is neither a number nor a reading with a numeric "value"`)
    values.push(n)
  }
  if (values.length < width) throw refuse(`${values.length} values; the model takes rows of ${width}`)
  return { rows: 1, width, data: Float32Array.from(values.slice(values.length - width)) }
}

function isTensor(v: unknown): v is { shape: unknown; data: unknown } {
  return typeof v === 'object' && v !== null && 'shape' in v && 'data' in v
}

function tensorInput(v: { shape: unknown; data: unknown }, width: number): ModelInput {
  const shape = v.shape
  if (!Array.isArray(shape) || shape.length < 1 || shape.length > 2 || !shape.every((d) => Number.isInteger(d) && d >= 1)) {
    throw refuse('shape: [rows, width] or [width]')
  }
  const rows = shape.length === 2 ? (shape[0] as number) : 1
  const w = shape.at(-1) as number
  if (w !== width) throw refuse(`shape: width ${w}; the model takes ${width}`)
  if (rows > MAX_ROWS) throw refuse(`shape: at most ${MAX_ROWS} rows`)
  if (!Array.isArray(v.data) || v.data.length !== rows * width) throw refuse(`data: ${rows * width} numbers`)
  const data = new Float32Array(rows * width)
  v.data.forEach((x, i) => {
    if (typeof x !== 'number' || !Number.isFinite(x)) throw refuse(`data[${i}]: a finite number`)
    data[i] = x
  })
  return { rows, width, data }
}

function lineValue(s: string): number | undefined {
  if (s.startsWith('{')) {
    try {
      const o = JSON.parse(s) as { value?: unknown }
      return typeof o.value === 'number' && Number.isFinite(o.value) ? o.value : undefined
    } catch {
      return undefined
    }
  }
  const n = Number(s)
  return s !== '' && Number.isFinite(n) ? n : undefined
}

/** The input as the network sees it: normalized per the task (anomaly models), float32. */
export function normalizeInput(model: ModelFile, input: ModelInput): Float32Array {
  const task = model.header.task
  if (task.type !== 'anomaly') return input.data
  const out = new Float32Array(input.data.length)
  for (let r = 0; r < input.rows; r++) {
    let mean = 0
    if (task.normalize.subtractMean) {
      for (let i = 0; i < input.width; i++) mean += input.data[r * input.width + i] as number
      mean /= input.width
    }
    for (let i = 0; i < input.width; i++) out[r * input.width + i] = ((input.data[r * input.width + i] as number) - mean) / task.normalize.scale
  }
  return out
}

/** The job's stdout from the network's output (row-major, `rows` × the model's output width). */
export function formatModelOutput(model: ModelFile, normalized: Float32Array, output: Float32Array, rows: number): string {
  const task = model.header.task
  if (task.type !== 'anomaly') {
    return `{"shape":[${rows},${model.outputWidth}],"data":[${Array.from(output, f32).join(',')}]}\n`
  }
  const w = model.inputWidth
  let out = ''
  for (let r = 0; r < rows; r++) {
    // fixed order, float64 accumulator: the same bytes wherever the output tensor is the same
    let sum = 0
    for (let i = 0; i < w; i++) {
      const d = (output[r * w + i] as number) - (normalized[r * w + i] as number)
      sum += d * d
    }
    const score = Math.fround(sum / w)
    out += `{"value":${score > task.threshold ? 1 : 0},"score":${f32(score)},"threshold":${f32(task.threshold)}}\n`
  }
  return out
}

/** The shortest decimal that reads back as the same float32. */
export function f32(x: number): string {
  const f = Math.fround(x)
  if (!Number.isFinite(f)) return 'null'
  for (let p = 1; p <= 9; p++) {
    const s = Number(f.toPrecision(p))
    if (Math.fround(s) === f) return String(s)
  }
  return String(f)
}
