/** Waiting in tests and benches: a bounded poll, and a plain pause. */

/** Polls `fn` every 10 ms until it returns something truthy; throws after `timeoutMs`, naming `what`. */
export async function waitFor<T>(fn: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 5000, what = 'condition'): Promise<T> {
  const until = Date.now() + timeoutMs
  for (;;) {
    const v = await fn()
    if (v) return v
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await sleep(10)
  }
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))
