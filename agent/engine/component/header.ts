/**
 * What a .wasm file is, from its first 8 bytes: `\0asm`, a 16-bit version and a 16-bit
 * layer. A core module has version 1, layer 0 (`00 61 73 6d 01 00 00 00`); a component
 * has layer 1 and a pre-standard version that still moves (0x0d today, `0d 00 01 00`),
 * so only the layer decides.
 */

export type WasmBinaryKind = 'module' | 'component' | 'unknown'

const MAGIC = [0x00, 0x61, 0x73, 0x6d] as const

export function wasmBinaryKind(bytes: Uint8Array): WasmBinaryKind {
  if (bytes.length < 8) return 'unknown'
  for (let i = 0; i < 4; i++) if (bytes[i] !== MAGIC[i]) return 'unknown'
  const layer = (bytes[6] ?? 0) | ((bytes[7] ?? 0) << 8)
  if (layer === 1) return 'component'
  if (layer === 0) return 'module'
  return 'unknown'
}

export function isComponent(bytes: Uint8Array): boolean {
  return wasmBinaryKind(bytes) === 'component'
}
