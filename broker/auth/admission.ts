/**
 * Which agents may join, once they proved their id with their key:
 *
 * - `open`: any key, under the agent rules (broker/auth/rules.ts);
 * - `allowlist`: the agent ids in the credentials file (`fogmesh auth add-agent ID`);
 * - `staked`: agents whose key is bound in `AgentRegistry` to an address with at
 *   least the registry's minimum stake and not unbonding (`activeAgentOf(key)`,
 *   the contract applies `minStake` itself).
 *
 * The registry is a port (`StakeRegistry`, the read side of contracts/registry's
 * AgentRegistry port, so `RegistryClient` and the in-memory twin `InMemoryRegistry` fit it):
 * a signer-less chain reader in the broker (broker/auth/registry-reader.ts), the twin in tests. Answers are cached, bounded: a yes for `cacheMs`, a no for `negativeCacheMs`.
 */
import { RecentMap } from '../../protocol/recent-set.ts'
import { AuthError } from '../../protocol/errors.ts'

export const ADMISSION_MODES = ['open', 'allowlist', 'staked'] as const
export type AdmissionMode = (typeof ADMISSION_MODES)[number]

/** The part of AgentRegistry admission needs: the payout address of the active agent with this mesh key, or null. */
export interface StakeRegistry {
  activeAgentOf(meshKey: string): Promise<string | null>
}

/** An ed25519 public key as AgentRegistry's `bytes32 meshKey`. */
export const meshKeyOf = (publicKeyHex: string) => `0x${publicKeyHex.toLowerCase()}`

export interface AdmissionOptions {
  mode: AdmissionMode
  /** For `allowlist`. */
  allowed?: (agentId: string) => boolean
  /** For `staked`. */
  registry?: StakeRegistry
  cacheMs?: number
  negativeCacheMs?: number
  /** Registry answers remembered (default 10,000). */
  maxCached?: number
}

export class Admission {
  readonly mode: AdmissionMode
  private readonly cache: RecentMap<{ ok: boolean; until: number }>
  private readonly cacheMs: number
  private readonly negativeCacheMs: number

  constructor(private readonly opts: AdmissionOptions) {
    this.mode = opts.mode
    if (opts.mode === 'staked' && !opts.registry) throw new AuthError('no_registry', 'staked admission needs an AgentRegistry')
    this.cache = new RecentMap(opts.maxCached ?? 10_000)
    this.cacheMs = opts.cacheMs ?? 60_000
    this.negativeCacheMs = opts.negativeCacheMs ?? 5_000
  }

  /** Resolves when the agent may join; rejects with an AuthError (`not_admitted`, `registry_unavailable`) when not. */
  async admit(agentId: string, publicKeyHex: string, now = Date.now()): Promise<void> {
    if (this.mode === 'open') return
    if (this.mode === 'allowlist') {
      if (this.opts.allowed?.(agentId)) return
      throw new AuthError('not_admitted', `agent ${agentId} is not on the allowlist (fogmesh auth add-agent ${agentId})`)
    }
    const hit = this.cache.get(agentId)
    let ok: boolean
    if (hit && hit.until > now) ok = hit.ok
    else {
      let owner: string | null
      try {
        owner = await this.opts.registry!.activeAgentOf(meshKeyOf(publicKeyHex))
      } catch (err) {
        throw new AuthError('registry_unavailable', `cannot read AgentRegistry to admit ${agentId}: ${(err as Error).message.split('\n')[0]}`, { cause: err })
      }
      ok = owner !== null
      this.cache.set(agentId, { ok, until: now + (ok ? this.cacheMs : this.negativeCacheMs) })
    }
    if (!ok) throw new AuthError('not_admitted', `agent ${agentId} has no active stake in AgentRegistry (register its key with at least the minimum stake)`)
  }
}
