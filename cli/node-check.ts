/**
 * Imported first by the device CLI: a Node too old for the bundle gets one line, not a
 * syntax error from deep inside it.
 */
import { NODE_MIN, nodeAtLeast } from '../fleet/bundle/targets.ts'

if (!nodeAtLeast(process.versions.node)) {
  process.stderr.write(`fogmesh: Node ${process.versions.node} is too old for this bundle; it needs >= ${NODE_MIN} (or use a bundle made with --with-node)\n`)
  process.exit(1)
}
