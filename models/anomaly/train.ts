/**
 * Trains the sensor-window anomaly detector: a dense autoencoder
 * 16 → 12 → 4 → 12 → 16 (relu inside, linear out) on synthetic normal windows
 * (synthetic.ts), on tfjs's pure-JS cpu backend, seeded everywhere (weight
 * initializers, data, no shuffling by tfjs): the same code and tfjs version
 * give the same weights, bit for bit. The anomaly threshold is set between the
 * scores of held-out normal windows and held-out anomalous ones.
 */
import { encodeModelFile, MODEL_FORMAT, type ModelHeader } from '../../protocol/model-file.ts'
import { anomalousWindows, normalWindows, WINDOW } from './synthetic.ts'

export interface TrainOptions {
  seed?: number
  samples?: number
  epochs?: number
}

export interface TrainReport {
  file: Buffer
  loss: number
  /** Highest score of a held-out normal window, lowest of an anomalous one. */
  normalMax: number
  anomalyMin: number
  threshold: number
  /** Held-out windows on the wrong side of the threshold. */
  falsePositives: number
  falseNegatives: number
  ms: number
}

const SCALE = 2.5

function normalize(w: number[]): number[] {
  const mean = w.reduce((a, b) => a + b, 0) / w.length
  return w.map((v) => (v - mean) / SCALE)
}

export async function trainAnomalyModel(o: TrainOptions = {}): Promise<TrainReport> {
  const seed = o.seed ?? 20260101
  const samples = o.samples ?? 2048
  const epochs = o.epochs ?? 40
  const started = performance.now()
  const tf = await import('@tensorflow/tfjs')
  tf.env().set('PROD', true)
  await tf.setBackend('cpu')
  const init = (n: number) => tf.initializers.glorotUniform({ seed: seed + n })
  const dense = (units: number, activation: 'relu' | 'linear', n: number, inputShape?: number[]) =>
    tf.layers.dense({ units, activation, kernelInitializer: init(n), biasInitializer: 'zeros', ...(inputShape ? { inputShape } : {}) })
  const net = tf.sequential({
    name: 'anomaly16',
    layers: [dense(12, 'relu', 1, [WINDOW]), dense(4, 'relu', 2), dense(12, 'relu', 3), dense(WINDOW, 'linear', 4)],
  })
  net.compile({ optimizer: tf.train.adam(0.005), loss: 'meanSquaredError' })
  const train = normalWindows(seed, samples).map(normalize)
  const x = tf.tensor2d(train, [train.length, WINDOW], 'float32')
  const h = await net.fit(x, x, { epochs, batchSize: 64, shuffle: false, verbose: 0 })
  x.dispose()
  const loss = Number(h.history.loss?.at(-1))

  const score = (ws: number[][]) =>
    tf.tidy(() => {
      const t = tf.tensor2d(ws.map(normalize), [ws.length, WINDOW], 'float32')
      const y = net.predict(t) as import('@tensorflow/tfjs').Tensor
      return Array.from(y.sub(t).square().mean(1).dataSync())
    })
  const heldNormal = score(normalWindows(seed + 1, 2000))
  const heldAnomalous = score(anomalousWindows(seed + 2, 2000).map((a) => a.values))
  const normalMax = Math.max(...heldNormal)
  const sorted = [...heldAnomalous].sort((a, b) => a - b)
  const anomalyMin = sorted[0] as number
  // above nearly every normal window with room to spare; anomalies that barely move the wave stay below
  const p999 = [...heldNormal].sort((a, b) => a - b)[Math.floor(heldNormal.length * 0.999)] as number
  const threshold = Math.fround(Math.max(p999 * 2, normalMax * 1.2))
  const falsePositives = heldNormal.filter((s) => s > threshold).length
  const falseNegatives = heldAnomalous.filter((s) => s <= threshold).length

  let artifacts: import('@tensorflow/tfjs').io.ModelArtifacts | undefined
  await net.save(
    tf.io.withSaveHandler(async (a) => {
      artifacts = a
      return { modelArtifactsInfo: { dateSaved: new Date(0), modelTopologyType: 'JSON' } }
    }),
  )
  if (!artifacts?.weightSpecs || !artifacts.weightData || artifacts.weightData instanceof Array) throw new Error('tfjs saved no weights')
  const header: ModelHeader = {
    format: MODEL_FORMAT,
    name: 'anomaly16',
    modelTopology: artifacts.modelTopology as Record<string, unknown>,
    weightSpecs: artifacts.weightSpecs.map((s) => ({ name: s.name, shape: s.shape, dtype: 'float32' as const })),
    task: { type: 'anomaly', threshold, normalize: { subtractMean: true, scale: SCALE } },
    training: {
      data: 'synthetic normal sensor windows (models/anomaly/synthetic.ts)',
      seed,
      samples,
      epochs,
      optimizer: 'adam 0.005, batch 64, mse',
      backend: 'cpu',
      loss,
      heldOut: { normal: heldNormal.length, anomalous: heldAnomalous.length, falsePositives, falseNegatives },
    },
  }
  const file = encodeModelFile(header, new Uint8Array(artifacts.weightData))
  net.dispose()
  return { file, loss, normalMax, anomalyMin, threshold, falsePositives, falseNegatives, ms: performance.now() - started }
}
