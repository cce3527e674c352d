/**
 * The custom error of a reverted call, decoded from its revert data — wherever ethers put the
 * data, also under a wrapping error's `cause` (TxRevertedError keeps both `revert` and `data`).
 */
import type { Interface } from 'ethers'

/** A contract's custom error and its arguments: `NothingToSettle(channelId, cumulativeAmount, alreadyPaid)`. */
export interface Revert {
  name: string
  args: unknown[]
}

type Carrier = { data?: unknown; info?: { error?: { data?: unknown } }; error?: { data?: unknown }; revert?: { name?: string; args?: unknown[] } | null; cause?: unknown } | null

/** The error and the errors it wraps (`cause`), outermost first. */
function* chain(e: unknown): Generator<Carrier> {
  for (let cur = e, depth = 0; cur && typeof cur === 'object' && depth < 4; cur = (cur as Carrier)?.cause, depth++) yield cur as Carrier
}

/** The revert data of a failed call or estimateGas, wherever ethers put it. */
export function revertData(e: unknown): string | undefined {
  for (const err of chain(e)) {
    for (const d of [err?.data, err?.info?.error?.data, err?.error?.data]) {
      if (typeof d === 'string' && d.startsWith('0x') && d.length >= 10) return d
    }
  }
  return undefined
}

/**
 * The custom error of a reverted call: ethers' decoded `revert` when it has one (static calls),
 * else the revert data decoded with `iface` (estimateGas of a send is not decoded by ethers).
 */
export function decodeRevert(e: unknown, iface?: Interface): Revert | undefined {
  for (const err of chain(e)) {
    const known = err?.revert
    if (known?.name) return { name: known.name, args: [...(known.args ?? [])] }
  }
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
