#!/usr/bin/env node
// Trains fogmesh's own models at install time (npm postinstall), from synthetic data made in the
// repo with a seeded RNG: no downloads.
//
//   node bin/build-models.js           build what is out of date
//   node bin/build-models.js --force   train again
//
// models/anomaly (the sensor-window autoencoder) is trained by models/build.ts into
// models/dist/anomaly.fmm, skipped when that file is newer than its inputs (models/, the model
// file format, this script, the installed tfjs). Exit code 1 when training fails.
import { spawnSync } from 'node:child_process'
import { existsSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { listFilesRecursive, newestMtime } from './assemblyscript-build.js'

const root = fileURLToPath(new URL('..', import.meta.url))
const out = join(root, 'models', 'dist', 'anomaly.fmm')
const inputs = [
  ...listFilesRecursive(join(root, 'models')).filter((p) => p.endsWith('.ts')),
  join(root, 'protocol', 'model-file.ts'),
  fileURLToPath(import.meta.url),
  join(root, 'node_modules', '@tensorflow', 'tfjs-layers', 'package.json'),
].filter((p) => existsSync(p))

if (!process.argv.includes('--force') && existsSync(out) && statSync(out).mtimeMs > newestMtime(inputs)) {
  console.log('models: anomaly.fmm up to date')
  process.exit(0)
}
const r = spawnSync(process.execPath, ['--import', 'tsx', join(root, 'models', 'build.ts')], { cwd: root, stdio: 'inherit' })
process.exit(r.status ?? 1)
