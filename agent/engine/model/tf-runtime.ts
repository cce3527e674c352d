/**
 * tfjs, loaded only when a model is: `import()`ed here and nowhere else, so
 * the agent's own bundle never carries it (it is a dependency of model jobs,
 * not of the agent). Inference runs on `@tensorflow/tfjs-backend-wasm`
 * (XNNPACK compiled to WebAssembly; its SIMD build where the runtime has wasm
 * SIMD, which every Node ≥ 16 does); `wasm-scalar` forces the build without
 * SIMD and `cpu` the pure-JS backend, for the determinism comparisons.
 */
import type * as TfCore from '@tensorflow/tfjs-core'
import type * as TfLayers from '@tensorflow/tfjs-layers'
import { ErrorCode, JobError } from '../../../protocol/errors.ts'
import { modelFlops, modelMemoryBytes, type ModelFile } from '../../../protocol/model-file.ts'
import { formatModelOutput, normalizeInput, parseModelInput } from './model-input.ts'

export type TfBackend = 'wasm' | 'wasm-scalar' | 'cpu'

export interface Tf {
  core: typeof TfCore
  layers: typeof TfLayers
  backend: TfBackend
}

let loaded: Promise<Tf> | undefined

/** The tfjs runtime on one backend (once per thread: tfjs keeps one engine per global). */
export function loadTf(backend: TfBackend = 'wasm'): Promise<Tf> {
  loaded ??= (async () => {
    const core = await import('@tensorflow/tfjs-core')
    core.env().set('PROD', true) // no console output from inside the engine
    const layers = await import('@tensorflow/tfjs-layers')
    if (backend === 'cpu') await import('@tensorflow/tfjs-backend-cpu')
    else {
      await import('@tensorflow/tfjs-backend-wasm')
      if (backend === 'wasm-scalar') core.env().set('WASM_HAS_SIMD_SUPPORT', false)
    }
    if (!(await core.setBackend(backend === 'cpu' ? 'cpu' : 'wasm'))) throw new JobError(ErrorCode.internal, `tfjs backend ${backend} did not start`)
    await core.ready()
    return { core, layers, backend }
  })()
  return loaded
}

export type LoadedModel = { file: ModelFile; net: TfLayers.LayersModel }

export async function buildModel(tf: Tf, file: ModelFile): Promise<LoadedModel> {
  const { header, weights } = file
  const weightData = weights.buffer.slice(weights.byteOffset, weights.byteOffset + weights.byteLength) as ArrayBuffer
  const net = await tf.layers.loadLayersModel(
    tf.core.io.fromMemory({ modelTopology: header.modelTopology as TfCore.io.ModelJSON['modelTopology'], weightSpecs: header.weightSpecs, weightData }),
  )
  return { file, net }
}

export interface InferenceLimits {
  /** Most FLOPs the run may cost (the job's fuel). */
  fuel?: number | undefined
  /** Most memory the run's own data may take (weights and activations), MiB. */
  memoryMiB?: number | undefined
  outputBytes: number
}

export interface Inference {
  output: Uint8Array
  /** The bill: FLOPs from the layer shapes × rows (deterministic). */
  fuel: number
}

/** One inference: parse, check the bill and the memory before running, run, format. Throws JobErrors. */
export function infer(tf: Tf, m: LoadedModel, input: Uint8Array, limits: InferenceLimits): Inference {
  const parsed = parseModelInput(input, m.file.inputWidth)
  const fuel = modelFlops(m.file, parsed.rows)
  if (limits.fuel !== undefined && fuel > limits.fuel) throw new JobError(ErrorCode.fuelExhausted, `the run costs ${fuel} FLOPs; the job allows ${limits.fuel}`)
  const bytes = modelMemoryBytes(m.file, parsed.rows)
  if (limits.memoryMiB !== undefined && bytes > limits.memoryMiB * 1048576) {
    throw new JobError(ErrorCode.memoryLimit, `the run needs ${bytes} bytes of weights and activations; the job allows ${limits.memoryMiB} MiB`)
  }
  const normalized = normalizeInput(m.file, parsed)
  const out = tf.core.tidy(() => {
    const x = tf.core.tensor2d(normalized, [parsed.rows, parsed.width], 'float32')
    const y = m.net.predict(x) as TfCore.Tensor
    return y.dataSync() as Float32Array
  })
  const text = formatModelOutput(m.file, normalized, out, parsed.rows)
  const output = Buffer.from(text, 'utf8')
  if (output.length > limits.outputBytes) throw new JobError(ErrorCode.outputLimit, `output is ${output.length} bytes; the job allows ${limits.outputBytes}`)
  return { output, fuel }
}
