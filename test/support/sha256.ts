import { createHash } from 'node:crypto'

/** sha256 as 64 lowercase hex characters, the way the mesh names modules and outputs. */
export const sha256 = (b: Uint8Array | string) => createHash('sha256').update(b).digest('hex')
