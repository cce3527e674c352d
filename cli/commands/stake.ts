import { formatUnits, parseUnits } from 'ethers'
import { loadOrCreateAttester } from '../../agent/attester-key.ts'
import { loadOrCreateIdentity } from '../../agent/identity.ts'
import { stakeAgent, unstakeAgent } from '../../contracts/verification/staking.ts'
import { UsageError, type Command } from '../command.ts'
import { COURT_OPTIONS, openCourt } from '../staking-options.ts'
import { defaultDataDir } from './agent.ts'

export const MESH_DECIMALS = 18
export const mesh = (amount: bigint) => `${formatUnits(amount, MESH_DECIMALS)} MESH`

function dataDirOf(values: Record<string, unknown>): string {
  if (typeof values.data === 'string') return values.data
  if (typeof values.name === 'string') return defaultDataDir(values.name)
  throw new UsageError("--data DIR (the agent's data dir) or --name NAME is required: the stake is for that agent's keys")
}

function amountOption(raw: unknown): bigint {
  if (typeof raw !== 'string' || !/^\d+(\.\d{1,18})?$/.test(raw)) throw new UsageError(`--amount takes MESH as a decimal number, e.g. 100 or 12.5 (got ${String(raw)})`)
  return parseUnits(raw, MESH_DECIMALS)
}

export const stakeCommand: Command = {
  name: 'stake',
  summary: "stakes MESH for an agent in the registry and binds the agent's attester key (requesters then assign it)",
  usage: `usage: fogmesh stake --amount N --rpc URL --court ADDRESS --keystore FILE (--data DIR | --name NAME) [--json]

  --amount N        MESH to stake (decimal); the first stake registers the agent's mesh key,
                    later ones add to it; 0 only binds the attester again
  --court ADDRESS   the VerificationCourt (fogmesh chain deploy prints it)
  --keystore FILE   the account that stakes and is paid (password in $FOGMESH_KEYSTORE_PASSWORD)
  --data DIR        the agent's data dir: its ed25519 identity and its attester key
  --name NAME       instead of --data: ~/.fogmesh/agents/NAME

  Then run the agent with --court ADDRESS --rpc URL --keystore FILE (or --account ADDRESS)
  so it advertises the stake.`,
  options: { ...COURT_OPTIONS, amount: { type: 'string' }, data: { type: 'string' }, name: { type: 'string' }, json: { type: 'boolean' } },
  async run(values) {
    const amount = amountOption(values.amount)
    const dir = dataDirOf(values)
    const identity = loadOrCreateIdentity(dir)
    const { attester } = loadOrCreateAttester(dir)
    const { court, provider } = await openCourt(values)
    try {
      const report = await stakeAgent({ court, meshKey: `0x${identity.publicKeyHex}`, attester, amount })
      const s = await court.standing(report.account)
      if (values.json) {
        console.log(JSON.stringify({ agent: identity.id, account: report.account, attester: attester.address, registered: report.registered, stake: s.stake.toString(), minStake: s.minStake.toString(), eligible: s.eligible, gasUsed: report.gasUsed.toString() }, null, 2))
      } else {
        console.log(`${report.registered ? 'registered' : 'staked'} ${mesh(report.added)} for agent ${identity.id} as ${report.account}${report.attesterBound ? `; attester ${attester.address} bound` : ''}`)
        console.log(`stake now ${mesh(s.stake)} (minimum ${mesh(s.minStake)}): ${s.eligible ? 'in the market' : 'not in the market'}`)
      }
      return 0
    } finally {
      provider.destroy()
    }
  },
}

export const unstakeCommand: Command = {
  name: 'unstake',
  summary: 'leaves the registry: starts unbonding (the agent leaves the market at once), or withdraws once the delay has passed',
  usage: `usage: fogmesh unstake --rpc URL --court ADDRESS --keystore FILE

  The first call starts unbonding; the stake stays slashable until it is withdrawn. Run it again
  after the unbonding delay to withdraw what is left.`,
  options: { ...COURT_OPTIONS },
  async run(values) {
    const { court, provider } = await openCourt(values)
    try {
      const r = await unstakeAgent(court)
      if (r.step === 'unbonding') {
        console.log(`unbonding ${mesh(r.stake)} of ${r.account}: out of the market now; withdraw after ${new Date(Number(r.unbondingEndsAt) * 1000).toISOString()} with fogmesh unstake`)
      } else console.log(`withdrew ${mesh(r.amount)} to ${r.account}`)
      return 0
    } finally {
      provider.destroy()
    }
  },
}
