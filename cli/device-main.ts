/**
 * `fogmesh` on a device: the entry of the bundle (lib/fogmesh.js). Only what a
 * device runs — the agent, and a check of its own files — so that nothing of
 * the laptop side (solc, anvil, the broker, the console) is in it.
 */
import './node-check.ts'
import { agentCommand } from './commands/agent.ts'
import { verifyCommand } from './commands/verify.ts'
import { parse, runMain, UsageError, type Command } from './command.ts'
import { VERSION } from '../protocol/version.ts'

const commands: Command[] = [agentCommand, verifyCommand]

async function main(argv: string[]): Promise<number> {
  const [first] = argv
  if (first === undefined || first === '--help' || first === '-h' || first === 'help') {
    const width = Math.max(...commands.map((c) => c.name.length))
    console.log([`fogmesh ${VERSION} (device bundle)`, '', 'usage: fogmesh <command> [options]', '', ...commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`)].join('\n'))
    return first === undefined ? 2 : 0
  }
  if (first === '--version' || first === '-v') {
    console.log(VERSION)
    return 0
  }
  const cmd = commands.find((c) => c.name === first)
  if (!cmd) throw new UsageError(`unknown command "${first}" on a device bundle (commands: ${commands.map((c) => c.name).join(', ')})`)
  const { values, positionals, help } = parse(cmd, argv.slice(1))
  if (help) {
    console.log(`${cmd.summary}\n\n${cmd.usage}`)
    return 0
  }
  return cmd.run(values, positionals)
}

await runMain(main)
