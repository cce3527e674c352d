import { formatUnits, parseUnits, type JsonRpcProvider } from 'ethers'
import { GovernanceClient, PARAM_SETTERS, SUPPORT, type ProposalStatus, type Support } from '../../contracts/governance/governance-client.ts'
import type { MeshParams } from '../../contracts/verification/deploy-verification.ts'
import { requireString, UsageError, type Command, type Options } from '../command.ts'
import { addressOption, openRpc } from '../staking-options.ts'
import { openKeystore } from '../wallet.ts'

const GOV_OPTIONS: Options = {
  rpc: { type: 'string' },
  keystore: { type: 'string' },
  governor: { type: 'string' },
  params: { type: 'string' },
}

const COMMON = `  --rpc URL --keystore FILE     the chain, and the voter's account ($FOGMESH_KEYSTORE_PASSWORD)
  --governor ADDRESS --params ADDRESS
                                the MeshGovernor and MeshParameters (fogmesh chain deploy prints them)`

async function open(values: Record<string, unknown>, readOnly = false): Promise<{ gov: GovernanceClient; provider: JsonRpcProvider }> {
  const addresses = {
    governor: addressOption(values, 'governor', 'the MeshGovernor address'),
    params: addressOption(values, 'params', 'the MeshParameters address'),
  }
  const provider = await openRpc(values)
  try {
    const signer = readOnly && values.keystore === undefined
      ? provider
      : (await openKeystore(requireString(values, 'keystore', "the voter's keystore file"), provider)).wallet
    return { gov: await GovernanceClient.connect(addresses, signer), provider }
  } catch (err) {
    provider.destroy()
    if (err instanceof UsageError) throw err
    throw new UsageError(`no MeshGovernor at ${addresses.governor} with parameters at ${addresses.params} (${(err as Error).message.split('\n')[0]})`)
  }
}

function proposalOption(values: Record<string, unknown>): bigint {
  const raw = requireString(values, 'proposal', 'the proposal id (fogmesh gov propose printed it)')
  if (!/^\d+$/.test(raw)) throw new UsageError(`--proposal takes the proposal id, a whole number (got ${raw})`)
  return BigInt(raw)
}

/** `name=value`: minStake in MESH, the rest whole numbers (basis points, seconds, counts). */
export function parseChange(raw: string): [keyof MeshParams, bigint] {
  const i = raw.indexOf('=')
  const name = raw.slice(0, i) as keyof MeshParams
  const value = raw.slice(i + 1)
  if (i <= 0 || !(name in PARAM_SETTERS)) throw new UsageError(`--set takes name=value with name one of ${Object.keys(PARAM_SETTERS).join(', ')} (got ${raw})`)
  if (name === 'minStake') {
    if (!/^\d+(\.\d{1,18})?$/.test(value)) throw new UsageError(`--set minStake takes MESH as a decimal number (got ${value})`)
    return [name, parseUnits(value, 18)]
  }
  if (!/^\d+$/.test(value)) throw new UsageError(`--set ${name} takes a whole number (got ${value})`)
  return [name, BigInt(value)]
}

const show = (name: string, v: bigint) => (name === 'minStake' ? `${formatUnits(v, 18)} MESH` : String(v))

function describe(p: ProposalStatus): string {
  const changes = p.changes.map((c) => `${c.name}=${show(c.name, c.value)}`).join(', ') || '(no parameter changes)'
  const votes = `for ${formatUnits(p.votes.for, 18)}, against ${formatUnits(p.votes.against, 18)}, abstain ${formatUnits(p.votes.abstain, 18)}; quorum ${formatUnits(p.quorum, 18)}`
  const eta = p.eta > 0n ? `; executable from ${new Date(Number(p.eta) * 1000).toISOString()}` : ''
  return `${p.proposalId}  ${p.state}  ${changes}  "${p.description}"\n  votes ${votes}; voting ${new Date(Number(p.voteStart) * 1000).toISOString()} .. ${new Date(Number(p.voteEnd) * 1000).toISOString()}${eta}`
}

export const govProposeCommand: Command = {
  name: 'gov propose',
  summary: 'proposes new values for the mesh parameters (minimum stake, slash fraction, challenge window, epoch length, spot-check rate, ...)',
  usage: `usage: fogmesh gov propose --set NAME=VALUE [--set ...] --description TEXT --rpc URL --keystore FILE --governor ADDRESS --params ADDRESS

  --set NAME=VALUE   minStake (MESH), slashFractionBps, reporterShareBps, challengeWindow (s),
                     epochLength (s), spotCheckBps, quorumMinAgents (>= 3), capacityFailThreshold
  --description TEXT what the proposal is for (part of its id)
${COMMON}

  Prints the proposal id. Voting opens after the governor's voting delay.`,
  options: { ...GOV_OPTIONS, set: { type: 'string', multiple: true }, description: { type: 'string' } },
  async run(values) {
    const sets = (values.set as unknown as string[] | undefined) ?? []
    if (sets.length === 0) throw new UsageError('--set NAME=VALUE is required (what the proposal changes)')
    const changes = Object.fromEntries(sets.map(parseChange)) as Partial<MeshParams>
    const description = requireString(values, 'description', 'what the proposal is for')
    const { gov, provider } = await open(values)
    try {
      const { proposalId } = await gov.proposeParams(changes, description)
      console.log(`proposal ${proposalId}`)
      console.log(describe(await gov.status(proposalId)))
      return 0
    } finally {
      provider.destroy()
    }
  },
}

export const govVoteCommand: Command = {
  name: 'gov vote',
  summary: 'votes on a proposal with the MESH delegated to you (delegate first: fogmesh gov delegate)',
  usage: `usage: fogmesh gov vote --proposal ID --support for|against|abstain [--reason TEXT] --rpc URL --keystore FILE --governor ADDRESS --params ADDRESS
${COMMON}`,
  options: { ...GOV_OPTIONS, proposal: { type: 'string' }, support: { type: 'string' }, reason: { type: 'string' } },
  async run(values) {
    const id = proposalOption(values)
    const support = requireString(values, 'support', 'for, against or abstain')
    if (!(support in SUPPORT)) throw new UsageError(`--support is for, against or abstain (got ${support})`)
    const { gov, provider } = await open(values)
    try {
      const state = await gov.state(id)
      if (state !== 'active') throw new UsageError(`proposal ${id} is ${state}, not open for votes`)
      await gov.vote(id, support as Support, typeof values.reason === 'string' ? values.reason : '')
      console.log(`voted ${support} on ${id} with ${formatUnits(await gov.votingPower(), 18)} MESH`)
      return 0
    } finally {
      provider.destroy()
    }
  },
}

function stepCommand(step: 'queue' | 'execute', needs: string, summary: string): Command {
  return {
    name: `gov ${step}`,
    summary,
    usage: `usage: fogmesh gov ${step} --proposal ID --rpc URL --keystore FILE --governor ADDRESS --params ADDRESS
${COMMON}`,
    options: { ...GOV_OPTIONS, proposal: { type: 'string' } },
    async run(values) {
      const id = proposalOption(values)
      const { gov, provider } = await open(values)
      try {
        const state = await gov.state(id)
        if (state !== needs) throw new UsageError(`proposal ${id} is ${state}; ${step} needs it ${needs}`)
        if (step === 'queue') {
          const { eta } = await gov.queue(id)
          console.log(`queued ${id}: executable from ${new Date(Number(eta) * 1000).toISOString()}`)
        } else {
          await gov.execute(id)
          console.log(`executed ${id}`)
          console.log(describe(await gov.status(id)))
        }
        return 0
      } finally {
        provider.destroy()
      }
    },
  }
}

export const govQueueCommand = stepCommand('queue', 'succeeded', 'queues a proposal that passed in the timelock')
export const govExecuteCommand = stepCommand('execute', 'queued', 'executes a queued proposal once its timelock delay has passed')

export const govDelegateCommand: Command = {
  name: 'gov delegate',
  summary: 'delegates your MESH votes (to yourself by default): votes count once delegated',
  usage: `usage: fogmesh gov delegate [--to ADDRESS] --rpc URL --keystore FILE --governor ADDRESS --params ADDRESS
${COMMON}`,
  options: { ...GOV_OPTIONS, to: { type: 'string' } },
  async run(values) {
    const { gov, provider } = await open(values)
    try {
      const to = values.to === undefined ? gov.account : addressOption(values, 'to', 'the delegate')
      await gov.delegate(to)
      console.log(`delegated the votes of ${gov.account} to ${to}; voting power of ${to}: ${formatUnits(await gov.votingPower(to), 18)} MESH`)
      return 0
    } finally {
      provider.destroy()
    }
  },
}

export const govStatusCommand: Command = {
  name: 'gov status',
  summary: 'the mesh parameters now, and the proposals with their state and votes',
  usage: `usage: fogmesh gov status [--proposal ID] [--json] --rpc URL --governor ADDRESS --params ADDRESS [--keystore FILE]
${COMMON}`,
  options: { ...GOV_OPTIONS, proposal: { type: 'string' }, json: { type: 'boolean' } },
  async run(values) {
    const { gov, provider } = await open(values, true)
    try {
      const p = (await gov.params.getFunction('get')()).toObject() as Record<string, bigint>
      const params = Object.fromEntries(Object.keys(PARAM_SETTERS).map((k) => [k, BigInt(p[k]!)]))
      const ids = values.proposal !== undefined ? [proposalOption(values)] : (await gov.proposals()).map((x) => x.proposalId)
      const proposals = await Promise.all(ids.map((id) => gov.status(id)))
      if (values.json) {
        console.log(JSON.stringify({ params, proposals }, (_k, v) => (typeof v === 'bigint' ? v.toString() : v), 2))
        return 0
      }
      console.log(`parameters  ${Object.entries(params).map(([k, v]) => `${k}=${show(k, v)}`).join('  ')}`)
      if (proposals.length === 0) console.log('no proposals')
      for (const x of proposals) console.log(describe(x))
      return 0
    } finally {
      provider.destroy()
    }
  },
}
