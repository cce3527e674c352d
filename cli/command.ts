/**
 * What a CLI command is, and the strict option parsing they share: an unknown
 * option or a bad value is one clear line and exit code 2, never a stack trace.
 */
import { homedir } from 'node:os'
import { join } from 'node:path'
import { parseArgs, type ParseArgsConfig } from 'node:util'
import { ErrorCode, FogmeshError, PortInUseError, ValidationError } from '../protocol/errors.ts'

export type Options = NonNullable<ParseArgsConfig['options']>

export interface Command {
  name: string
  summary: string
  /** Usage lines shown by --help. */
  usage: string
  options: Options
  run(values: Record<string, string | boolean | undefined>, positionals: string[]): Promise<number>
}

export class UsageError extends FogmeshError {
  override name = 'UsageError'
  constructor(message: string) {
    super(ErrorCode.usage, message)
  }
}

export function parse(cmd: Command, argv: string[]): { values: Record<string, string | boolean | undefined>; positionals: string[]; help: boolean } {
  try {
    const { values, positionals } = parseArgs({
      args: argv,
      options: { ...cmd.options, help: { type: 'boolean', short: 'h' } },
      allowPositionals: true,
      strict: true,
    })
    const v = values as Record<string, string | boolean | undefined>
    return { values: v, positionals, help: v.help === true }
  } catch (err) {
    const msg = err instanceof Error ? err.message.split('\n')[0] ?? '' : String(err)
    throw new UsageError(`${msg.replace(/\. To specify.*$/, '')} (see fogmesh ${cmd.name} --help)`)
  }
}

export function intOption(values: Record<string, unknown>, name: string, fallback: number, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  const raw = values[name]
  if (raw === undefined) return fallback
  const n = Number(raw)
  if (typeof raw !== 'string' || !/^\d+$/.test(raw) || n < min || n > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? (min > 0 ? ` of at least ${min}` : '') : ` from ${min} to ${max}`
    throw new UsageError(`--${name} must be a whole number${range} (got ${String(raw)})`)
  }
  return n
}

/**
 * The whole number the user gave for `--name`, or undefined when they gave none, so that the
 * library's default stands (the CLI does not restate it). `min`/`max` only where the CLI itself
 * sets the bounds; the library refuses out-of-range values of its own options (see `withOptionNames`).
 */
export function givenInt(values: Record<string, unknown>, name: string, min = 0, max = Number.MAX_SAFE_INTEGER): number | undefined {
  return values[name] === undefined ? undefined : intOption(values, name, 0, min, max)
}

/**
 * Runs a library's start with the options the user gave, and turns its refusals of those options
 * into user errors (exit 2) that name the flag to change: a `ValidationError` of a field in
 * `flags` (`{ wsPort: '--ws-port' }` maps `broker.wsPort`), and a taken port.
 */
export async function withOptionNames<T>(flags: Record<string, string>, start: () => Promise<T>): Promise<T> {
  try {
    return await start()
  } catch (err) {
    if (err instanceof PortInUseError) {
      const flag = flags[err.option]
      throw new UsageError(`port ${err.port} is in use${flag ? ` (${flag})` : ''}: choose another or 0 for any free port`)
    }
    if (err instanceof ValidationError) {
      const flag = flags[err.field.slice(err.field.lastIndexOf('.') + 1)]
      if (flag) throw new UsageError(`${flag}: ${err.shortMessage.slice(err.field.length + 2)}`)
    }
    throw err
  }
}

export function requireString(values: Record<string, unknown>, name: string, what: string): string {
  const v = values[name]
  if (typeof v !== 'string' || v.length === 0) throw new UsageError(`--${name} is required: ${what}`)
  return v
}

/** `k=v,k2=v2` → record. */
export function labelsOption(raw: unknown): Record<string, string> {
  if (raw === undefined) return {}
  const out: Record<string, string> = {}
  for (const part of String(raw).split(',').filter(Boolean)) {
    const i = part.indexOf('=')
    if (i <= 0) throw new UsageError(`--labels takes k=v pairs separated by commas (got "${part}")`)
    out[part.slice(0, i)] = part.slice(i + 1)
  }
  return out
}

/** `--accept-from ID,ID,...` or `any` → what the agent takes work from. */
export function acceptFromOption(raw: unknown): 'any' | string[] | undefined {
  if (raw === undefined) return undefined
  const v = String(raw)
  if (v === 'any') return 'any'
  const ids = v.split(',').filter(Boolean)
  for (const id of ids) {
    if (!/^[0-9a-f]{20}$/.test(id)) throw new UsageError(`--accept-from takes requester ids (20 hex characters) separated by commas, or any (got "${id}")`)
  }
  return ids
}

/** Where a CLI requester keeps its key: $FOGMESH_HOME/<role>/identity.json (default ~/.fogmesh). */
export function requesterKeyFile(role: 'gateway' | 'requester', dir?: unknown): string {
  const base = typeof dir === 'string' ? dir : join(process.env.FOGMESH_HOME ?? join(homedir(), '.fogmesh'), role)
  return join(base, 'identity.json')
}

/** Resolves on SIGINT or SIGTERM. */
export function untilSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const on = (s: NodeJS.Signals) => {
      process.off('SIGINT', on)
      process.off('SIGTERM', on)
      resolve(s)
    }
    process.on('SIGINT', on)
    process.on('SIGTERM', on)
  })
}

/**
 * Runs a `fogmesh` entry's `main` and turns what it throws into one line on stderr and an exit
 * code: 2 for a user error (a bad option, a port another program holds), 1 for anything else;
 * a stack trace only with FOGMESH_DEBUG set.
 */
export async function runMain(main: (argv: string[]) => Promise<number>): Promise<void> {
  try {
    process.exitCode = await main(process.argv.slice(2))
  } catch (err) {
    if (err instanceof FogmeshError) {
      console.error(`fogmesh: ${err.shortMessage}`)
      process.exitCode = err.code === ErrorCode.usage || err.code === ErrorCode.portInUse ? 2 : 1
    } else {
      console.error(`fogmesh: internal error: ${err instanceof Error ? err.message : String(err)}`)
      if (process.env.FOGMESH_DEBUG) console.error(err)
      process.exitCode = 1
    }
  }
}
