/**
 * The custom error of a reverted call, decoded from its revert data.
 */
import type { Interface } from 'ethers'

/** The revert data of a failed call or estimateGas, wherever ethers put it. */
export function revertData(e: unknown): string | undefined {
  const err = e as { data?: unknown; info?: { error?: { data?: unknown } }; error?: { data?: unknown } } | null
  for (const d of [err?.data, err?.info?.error?.data, err?.error?.data]) {
    if (typeof d === 'string' && d.startsWith('0x') && d.length >= 10) return d
  }
  return undefined
}

/**
 * The custom error of a reverted call: ethers' decoded `revert` when it has one (static calls),
 * else the revert data decoded with `iface` (estimateGas of a send is not decoded by ethers).
 */
export function decodeRevert(e: unknown, iface?: Interface): { name: string; args: unknown[] } | undefined {
  const known = (e as { revert?: { name?: string; args?: unknown[] } | null } | null)?.revert
  if (known?.name) return { name: known.name, args: [...(known.args ?? [])] }
  const data = revertData(e)
  if (!data || !iface) return undefined
  try {
    const parsed = iface.parseError(data)
    return parsed ? { name: parsed.name, args: [...parsed.args] } : undefined
  } catch {
    return undefined
  }
}

/** The custom error name of a reverted call, if any (see decodeRevert). */
export function revertName(e: unknown, iface?: Interface): string | undefined {
  return decodeRevert(e, iface)?.name
}
