/**
 * The agent's co-signer, loaded on first need: the attester key and the EIP-712 statements pull in
 * ethers (secp256k1), which an agent that no requester asks to co-sign never loads — a device's
 * RSS and start time. A staked agent loads it at start (its address goes in the presence).
 */
import type { ResultAttestor } from './result-attestation.ts'

/** The attester key of `dataDir` (created on first use) behind a co-signer, loaded once, on first call. */
export function attestorLoader(dataDir: string): () => Promise<ResultAttestor> {
  let loading: Promise<ResultAttestor> | undefined
  return () =>
    (loading ??= Promise.all([import('./attester-key.ts'), import('./result-attestation.ts')]).then(
      ([key, attestation]) => new attestation.ResultAttestor(key.loadOrCreateAttester(dataDir).attester),
    ))
}
