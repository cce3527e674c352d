/**
 * `fogmesh` — the only place in the code base that prints.
 */
import { VERSION } from '../protocol/version.ts'
import { parse, runMain, UsageError, type Command } from './command.ts'
import { agentCommand } from './commands/agent.ts'
import { authCommands } from './commands/auth.ts'
import { chainDeployCommand } from './commands/chain-deploy.ts'
import { brokerCommand } from './commands/broker.ts'
import { bridgeCommand } from './commands/bridge.ts'
import { bundleCommand } from './commands/bundle.ts'
import { gatewayCommand } from './commands/gateway.ts'
import { moduleAddCommand } from './commands/module-add.ts'
import { statusCommand } from './commands/status.ts'
import { submitCommand } from './commands/submit.ts'
import { upCommand } from './commands/up.ts'
import { provisionCommand } from './commands/provision.ts'
import { flashCommand } from './commands/flash.ts'
import { releaseKeygenCommand, releasePublishCommand, releaseShowCommand } from './commands/release.ts'
import { stakeCommand, unstakeCommand } from './commands/stake.ts'
import { govDelegateCommand, govExecuteCommand, govProposeCommand, govQueueCommand, govStatusCommand, govVoteCommand } from './commands/gov.ts'

const commands: Command[] = [upCommand, brokerCommand, gatewayCommand, agentCommand, moduleAddCommand, submitCommand, statusCommand, chainDeployCommand, bridgeCommand, bundleCommand, releaseKeygenCommand, releasePublishCommand, releaseShowCommand, provisionCommand, flashCommand, ...authCommands,
  stakeCommand, unstakeCommand, govProposeCommand, govVoteCommand, govQueueCommand, govExecuteCommand, govStatusCommand, govDelegateCommand]

function mainHelp(): string {
  const width = Math.max(...commands.map((c) => c.name.length))
  return [
    `fogmesh ${VERSION} — an edge compute mesh: agents on small devices run WebAssembly jobs over MQTT`,
    '',
    'usage: fogmesh <command> [options]',
    '',
    ...commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    'Every command takes --help. Start with: fogmesh up --duration 10',
  ].join('\n')
}

async function main(argv: string[]): Promise<number> {
  const [first, second] = argv
  if (first === undefined || first === '--help' || first === '-h' || first === 'help') {
    console.log(mainHelp())
    return first === undefined ? 2 : 0
  }
  if (first === '--version' || first === '-v') {
    console.log(VERSION)
    return 0
  }
  // two-word commands first (`module add`), then one-word ones
  let cmd = commands.find((c) => c.name === `${first} ${second ?? ''}`)
  let rest = argv.slice(2)
  if (!cmd) {
    cmd = commands.find((c) => c.name === first)
    rest = argv.slice(1)
  }
  if (!cmd) {
    if (first === 'module') throw new UsageError(`fogmesh module takes a subcommand: add (see fogmesh module add --help)`)
    if (first === 'gov') throw new UsageError(`fogmesh gov takes a subcommand: propose, vote, queue, execute, status, delegate (see fogmesh gov propose --help)`)
    if (first === 'auth') throw new UsageError(`fogmesh auth takes a subcommand: add, add-agent, list, remove, export (see fogmesh auth add --help)`)
    if (first === 'release') throw new UsageError(`fogmesh release takes a subcommand: keygen, publish, show (see fogmesh release publish --help)`)
    if (first === 'chain') throw new UsageError(`fogmesh chain takes a subcommand: deploy (see fogmesh chain deploy --help)`)
    throw new UsageError(`unknown command "${first}" (see fogmesh --help)`)
  }
  const { values, positionals, help } = parse(cmd, rest)
  if (help) {
    console.log(`${cmd.summary}\n\n${cmd.usage}`)
    return 0
  }
  return cmd.run(values, positionals)
}

await runMain(main)
