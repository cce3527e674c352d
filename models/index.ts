/**
 * fogmesh's own models, trained at install time (bin/build-models.js) into
 * models/dist/<name>.fmm — the model file of protocol/model-file.ts.
 */
import { readFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'

export const MODELS = ['anomaly'] as const
export type ModelName = (typeof MODELS)[number]

export function modelPath(name: ModelName): string {
  if (!(MODELS as readonly string[]).includes(name)) throw new Error(`unknown model "${String(name)}" (known: ${MODELS.join(', ')})`)
  return fileURLToPath(new URL(`./dist/${name}.fmm`, import.meta.url))
}

/** The bytes of a shipped model; a clear error when it has not been trained yet. */
export async function loadModelBytes(name: ModelName): Promise<Buffer> {
  try {
    return await readFile(modelPath(name))
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new Error(`model "${name}" is not built (${modelPath(name)} is missing): run \`npm run build:models\``)
    throw err
  }
}
