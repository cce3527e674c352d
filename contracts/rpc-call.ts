/**
 * One JSON-RPC request with plain fetch: no ethers provider (no network detection, no retry
 * loop that logs), for "is the node up" and the dev methods (evm_increaseTime, evm_mine, ...).
 */
import { ChainUnreachableError, RpcError } from './chain-errors.ts'

/** One JSON-RPC call with plain fetch (no ethers provider needed to see if the node is up). */
export async function rpcCall<T = unknown>(rpc: string, method: string, params: unknown[] = [], timeoutMs = 2000): Promise<T> {
  let body: { result?: T; error?: { message: string } }
  try {
    const res = await fetch(rpc, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }),
      signal: AbortSignal.timeout(timeoutMs),
    })
    body = (await res.json()) as typeof body
  } catch (e) {
    throw new ChainUnreachableError(`${method}: no answer from ${rpc}`, { url: rpc, details: reason(e), cause: e })
  }
  if (body.error) throw new RpcError(method, body.error.message)
  return body.result as T
}

/** fetch says "fetch failed" and puts the reason (ECONNREFUSED ...) in its cause. */
function reason(e: unknown): string {
  const err = e as { message?: string; cause?: { message?: string } }
  return err.cause?.message ?? err.message ?? String(e)
}
