/**
 * The model file: one file per model, content-addressed like a module
 * (`fm/v1/models/<sha256>`, docs/contract.md). A tfjs-layers model, its weights
 * and what the runner does around it, in one buffer:
 *
 *   "FMMODEL1" | u32le header length | header (UTF-8 JSON) | weights (float32 LE, in weightSpecs order)
 *
 * The header is checked at the boundary: only Sequential stacks of Dense
 * layers with known activations (what the runner can bill exactly), weight
 * shapes that follow from the layers, and the byte count they add up to. The
 * bill of a run is `flops(rows)`: multiply-adds from the layer shapes times
 * the rows of the input — a deterministic measure, never wall time.
 */
import { ErrorCode, JobError } from './errors.ts'

export const MODEL_MAGIC = Buffer.from('FMMODEL1', 'latin1')
export const MODEL_FORMAT = 'fogmesh-model/1'
/** Largest model file an agent takes (the weights of a small edge model fit many times over). */
export const MAX_MODEL_BYTES = 16 * 1024 * 1024
/** Widest layer the runner accepts. */
const MAX_UNITS = 65_536
const MAX_LAYERS = 64
const ACTIVATIONS = new Set(['linear', 'relu', 'sigmoid', 'tanh'])

export interface WeightSpec {
  name: string
  shape: number[]
  dtype: 'float32'
}

/** What the runner does with the model's output. */
export type ModelTask =
  /** An autoencoder: score = mean squared reconstruction error of the normalized input; `value` 1 above `threshold`. */
  | { type: 'anomaly'; threshold: number; normalize: { subtractMean: boolean; scale: number } }
  /** The output tensor as it is. */
  | { type: 'tensor' }

export interface ModelHeader {
  format: typeof MODEL_FORMAT
  name: string
  /** The tfjs-layers topology (`model.toJSON(null, false)`). */
  modelTopology: Record<string, unknown>
  weightSpecs: WeightSpec[]
  task: ModelTask
  /** How it was made (seed, data, epochs, loss), for people. */
  training?: Record<string, unknown>
}

export interface DenseLayer {
  inputs: number
  units: number
  activation: string
  useBias: boolean
}

export interface ModelFile {
  header: ModelHeader
  weights: Uint8Array
  layers: DenseLayer[]
  /** Width of one input row. */
  inputWidth: number
  outputWidth: number
  /** Bytes of the weights as float32. */
  weightBytes: number
}

/** Whether `bytes` starts like a model file (the executor routes on this). */
export function isModelFile(bytes: Uint8Array): boolean {
  return bytes.length >= 12 && Buffer.from(bytes.buffer, bytes.byteOffset, 8).equals(MODEL_MAGIC)
}

export function encodeModelFile(header: ModelHeader, weights: Uint8Array): Buffer {
  const json = Buffer.from(JSON.stringify(header), 'utf8')
  const len = Buffer.alloc(4)
  len.writeUInt32LE(json.length)
  const file = Buffer.concat([MODEL_MAGIC, len, json, weights])
  decodeModelFile(file) // never write what we would refuse to read
  return file
}

const bad = (why: string) => new JobError(ErrorCode.invalidModule, `model file: ${why}`)

/** Parses and checks a model file; throws a JobError `invalid_module` that says what is wrong. */
export function decodeModelFile(bytes: Uint8Array): ModelFile {
  if (bytes.length > MAX_MODEL_BYTES) throw new JobError(ErrorCode.tooLarge, `model file is ${bytes.length} bytes; at most ${MAX_MODEL_BYTES}`)
  if (!isModelFile(bytes)) throw bad('does not start with FMMODEL1')
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const len = buf.readUInt32LE(8)
  if (12 + len > buf.length) throw bad(`header of ${len} bytes runs past the end`)
  let header: ModelHeader
  try {
    header = JSON.parse(buf.subarray(12, 12 + len).toString('utf8')) as ModelHeader
  } catch {
    throw bad('header is not JSON')
  }
  if (typeof header !== 'object' || header === null || header.format !== MODEL_FORMAT) throw bad(`format is not ${MODEL_FORMAT}`)
  if (typeof header.name !== 'string' || header.name.length < 1 || header.name.length > 128) throw bad('name: 1..128 characters')
  const layers = denseLayers(header.modelTopology)
  checkTask(header.task, layers)
  const specs = expectedSpecs(layers)
  if (!Array.isArray(header.weightSpecs) || header.weightSpecs.length !== specs.length) throw bad(`weightSpecs: expected ${specs.length} entries`)
  let floats = 0
  header.weightSpecs.forEach((s, i) => {
    const want = specs[i] as number[]
    if (s?.dtype !== 'float32' || typeof s.name !== 'string' || !Array.isArray(s.shape) || s.shape.join(',') !== want.join(',')) {
      throw bad(`weightSpecs[${i}]: expected float32 [${want.join(', ')}]`)
    }
    floats += want.reduce((a, b) => a * b, 1)
  })
  const weights = buf.subarray(12 + len)
  if (weights.length !== floats * 4) throw bad(`weights are ${weights.length} bytes; the layers need ${floats * 4}`)
  return {
    header,
    weights,
    layers,
    inputWidth: (layers[0] as DenseLayer).inputs,
    outputWidth: (layers.at(-1) as DenseLayer).units,
    weightBytes: weights.length,
  }
}

function denseLayers(topology: unknown): DenseLayer[] {
  const t = topology as { class_name?: unknown; config?: { layers?: unknown } } | null
  if (typeof t !== 'object' || t === null || t.class_name !== 'Sequential' || !Array.isArray(t.config?.layers)) throw bad('modelTopology: a Sequential model')
  const raw = t.config.layers as Array<{ class_name?: unknown; config?: Record<string, unknown> }>
  if (raw.length < 1 || raw.length > MAX_LAYERS) throw bad(`modelTopology: 1..${MAX_LAYERS} layers`)
  const out: DenseLayer[] = []
  let inputs = 0
  raw.forEach((l, i) => {
    const c = l?.config ?? {}
    if (l?.class_name !== 'Dense') throw bad(`layer ${i}: only Dense layers (got ${String(l?.class_name)})`)
    if (i === 0) {
      const shape = c.batch_input_shape
      if (!Array.isArray(shape) || shape.length !== 2 || shape[0] !== null || !isWidth(shape[1])) throw bad('layer 0: batch_input_shape [null, width]')
      inputs = shape[1] as number
    }
    if (!isWidth(c.units)) throw bad(`layer ${i}: units 1..${MAX_UNITS}`)
    const activation = c.activation ?? 'linear'
    if (typeof activation !== 'string' || !ACTIVATIONS.has(activation)) throw bad(`layer ${i}: activation one of ${[...ACTIVATIONS].join(', ')}`)
    const useBias = c.use_bias !== false
    out.push({ inputs, units: c.units as number, activation, useBias })
    inputs = c.units as number
  })
  return out
}

const isWidth = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 1 && v <= MAX_UNITS

function expectedSpecs(layers: DenseLayer[]): number[][] {
  return layers.flatMap((l) => (l.useBias ? [[l.inputs, l.units], [l.units]] : [[l.inputs, l.units]]))
}

function checkTask(task: unknown, layers: DenseLayer[]): void {
  const t = task as ModelTask | null
  if (typeof t !== 'object' || t === null) throw bad('task: an object')
  if (t.type === 'tensor') return
  if (t.type !== 'anomaly') throw bad('task.type: "anomaly" or "tensor"')
  if (typeof t.threshold !== 'number' || !(t.threshold > 0) || !Number.isFinite(t.threshold)) throw bad('task.threshold: a number above 0')
  const n = t.normalize
  if (typeof n !== 'object' || n === null || typeof n.subtractMean !== 'boolean' || typeof n.scale !== 'number' || !(n.scale > 0)) {
    throw bad('task.normalize: {subtractMean, scale > 0}')
  }
  if ((layers[0] as DenseLayer).inputs !== (layers.at(-1) as DenseLayer).units) throw bad('task anomaly: an autoencoder (output width = input width)')
}

/**
 * Floating-point operations of one run over `rows` input rows: per Dense layer
 * 2·in·out (multiply and add) + out (bias) + out (activation), plus the
 * runner's own work around it (normalizing, scoring: 4 per input value).
 */
export function modelFlops(m: Pick<ModelFile, 'layers' | 'header'>, rows: number): number {
  let perRow = 0
  for (const l of m.layers) perRow += 2 * l.inputs * l.units + (l.useBias ? l.units : 0) + (l.activation === 'linear' ? 0 : l.units)
  if (m.header.task.type === 'anomaly') perRow += 4 * (m.layers[0] as DenseLayer).inputs
  return perRow * rows
}

/** Bytes a run needs beyond the runtime: the weights, and the widest activation of `rows` rows twice (in and out). */
export function modelMemoryBytes(m: Pick<ModelFile, 'layers' | 'weightBytes'>, rows: number): number {
  const widest = m.layers.reduce((w, l) => Math.max(w, l.inputs, l.units), 0)
  return m.weightBytes + 2 * 4 * widest * rows
}
