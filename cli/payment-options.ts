/** The flags that make a command take payment (`--rpc`, `--channels`, `--keystore`), apart from the code that uses them (ethers loads only when they are given). */
export const PAYMENT_OPTIONS = {
  rpc: { type: 'string' },
  channels: { type: 'string' },
  keystore: { type: 'string' },
} as const

export const wantsPayment = (values: Record<string, unknown>): boolean => values.rpc !== undefined || values.channels !== undefined || values.keystore !== undefined
