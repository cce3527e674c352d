/** Where the repository is, for tests and benches that spawn `bin/fogmesh.js` or a script by path. */
import { fileURLToPath } from 'node:url'

/** The repository root, with a trailing slash. */
export const ROOT = fileURLToPath(new URL('../..', import.meta.url))
