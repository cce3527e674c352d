/**
 * `node --import tsx models/build.ts`: trains the shipped models into
 * models/dist/ (bin/build-models.js runs it when they are out of date).
 */
import { createHash } from 'node:crypto'
import { mkdirSync, renameSync, writeFileSync } from 'node:fs'
import { dirname } from 'node:path'
import { trainAnomalyModel } from './anomaly/train.ts'
import { modelPath } from './index.ts'

const path = modelPath('anomaly')
mkdirSync(dirname(path), { recursive: true })
const r = await trainAnomalyModel()
writeFileSync(`${path}.tmp`, r.file)
renameSync(`${path}.tmp`, path)
const sha = createHash('sha256').update(r.file).digest('hex')
process.stdout.write(
  `models: anomaly.fmm ${r.file.length} bytes  sha256 ${sha}  loss ${r.loss.toExponential(3)}  threshold ${r.threshold.toExponential(3)}` +
    `  held-out false +/-: ${r.falsePositives}/${r.falseNegatives}  ${(r.ms / 1000).toFixed(1)} s\n`,
)
