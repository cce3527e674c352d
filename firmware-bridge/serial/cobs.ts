/**
 * Consistent Overhead Byte Stuffing (Cheshire & Baker, 1999): a frame of any
 * bytes becomes a frame with no zero byte, so a single 0x00 can delimit frames
 * on a serial line and a receiver resynchronises at the next zero after noise.
 *
 * Overhead: at most one byte per 254 bytes of data, plus one.
 */
import { ErrorCode, FogmeshError } from '../../protocol/errors.ts'

/** Encodes `data` (zeros allowed); the result has no zero byte and no trailing delimiter. */
export function cobsEncode(data: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(data.length + Math.ceil(data.length / 254) + 1)
  let codeAt = 0
  let o = 1
  let code = 1
  for (let i = 0; i < data.length; i++) {
    const b = data[i] as number
    if (b === 0) {
      out[codeAt] = code
      codeAt = o++
      code = 1
      continue
    }
    out[o++] = b
    code++
    if (code === 0xff) {
      out[codeAt] = code
      // a full block at the very end needs no empty block after it
      if (i === data.length - 1) return out.subarray(0, o)
      codeAt = o++
      code = 1
    }
  }
  out[codeAt] = code
  return out.subarray(0, o)
}

/** Decodes one COBS frame (without its 0x00 delimiter). Throws a FogmeshError on a malformed frame. */
export function cobsDecode(frame: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(frame.length)
  let o = 0
  let i = 0
  while (i < frame.length) {
    const code = frame[i] as number
    if (code === 0) throw new FogmeshError(ErrorCode.invalidField, `COBS frame has a zero byte at ${i}`)
    if (i + code > frame.length) throw new FogmeshError(ErrorCode.invalidField, `COBS block at ${i} runs past the frame end`)
    for (let k = 1; k < code; k++) {
      const b = frame[i + k] as number
      if (b === 0) throw new FogmeshError(ErrorCode.invalidField, `COBS frame has a zero byte at ${i + k}`)
      out[o++] = b
    }
    i += code
    // a block shorter than 0xff implies a zero, except at the very end
    if (code !== 0xff && i < frame.length) out[o++] = 0
  }
  return out.subarray(0, o)
}
