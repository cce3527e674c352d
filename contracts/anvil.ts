/**
 * A local anvil node (npm `@foundry-rs/anvil`, runs offline) on a free port, for the tests,
 * the settlement benchmark and `fogmesh up`.
 *
 *   const node = await startAnvil()          // { rpc, chainId, accounts: [dev private keys], stop() }
 *   ...
 *   await node.stop()
 *
 * Anvil does not accept `--port 0`, so the port is picked here: the OS hands out a free one on a
 * throw-away listener, which is closed before anvil binds it; when another process wins that race
 * anvil fails to bind and the start is retried on a new port. Ready means: `eth_chainId` answers.
 * The accounts are anvil's deterministic dev keys (the "test test ... junk" mnemonic, which is
 * passed explicitly so that a changed default cannot change them). Every node started here is
 * killed when this process exits, also on an uncaught exception, and (through
 * a small watchdog shell loop) within a second after a SIGKILL of this process.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { createRequire } from 'node:module'
import { createServer, type AddressInfo } from 'node:net'
import { delimiter, join } from 'node:path'
import { HDNodeWallet } from 'ethers'
import { ErrorCode } from '../protocol/errors.ts'
import { ChainError, ChainUnreachableError } from './chain-errors.ts'
import { rpcCall } from './rpc-call.ts'

export const DEV_MNEMONIC = 'test test test test test test test test test test test junk'

export interface AnvilOptions {
  /** default 31337 */
  chainId?: number
  /** dev accounts to fund and return; default 10 */
  accounts?: number
  /** e.g. 'prague', 'cancun'; default: anvil's latest */
  hardfork?: string
  /** block gas limit */
  gasLimit?: bigint
  /** more anvil arguments */
  extraArgs?: string[]
  /** how long to wait for `eth_chainId`; default 20 s */
  startTimeoutMs?: number
}

export interface Anvil {
  rpc: string
  port: number
  chainId: number
  /** private keys (0x hex) of the funded dev accounts, in anvil's order */
  accounts: string[]
  /** the anvil process id */
  pid: number
  /** SIGTERM, then SIGKILL after 3 s; resolves when the process is gone. Idempotent. */
  stop(): Promise<void>
}

/** The anvil binary: $FOGMESH_ANVIL, the npm platform package, or `anvil` on PATH; null if none. */
export function findAnvil(): string | null {
  const fromEnv = process.env.FOGMESH_ANVIL
  if (fromEnv) return existsSync(fromEnv) ? fromEnv : null
  const arch = process.arch === 'x64' ? 'amd64' : process.arch
  const exe = process.platform === 'win32' ? 'anvil.exe' : 'anvil'
  try {
    const path = createRequire(import.meta.url).resolve(`@foundry-rs/anvil-${process.platform}-${arch}/bin/${exe}`)
    if (existsSync(path)) return path
  } catch {
    // not installed for this platform: try PATH
  }
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir && existsSync(join(dir, exe))) return join(dir, exe)
  }
  return null
}

const devKeyCache = new Map<number, string[]>()

/** The first `n` private keys of the dev mnemonic (m/44'/60'/0'/0/i), as anvil funds them. */
export function devAccounts(n = 10): string[] {
  const cached = devKeyCache.get(n)
  if (cached) return cached
  const parent = HDNodeWallet.fromPhrase(DEV_MNEMONIC, undefined, "m/44'/60'/0'/0")
  const keys = Array.from({ length: n }, (_, i) => parent.deriveChild(i).privateKey)
  devKeyCache.set(n, keys)
  return keys
}

const running = new Set<ChildProcess>()
let exitHooked = false

function hookExit(): void {
  if (exitHooked) return
  exitHooked = true
  // 'exit' handlers must be synchronous: a plain SIGKILL to whatever is still running
  process.on('exit', () => {
    for (const child of running) child.kill('SIGKILL')
  })
  // No SIGINT/SIGTERM handlers here: a library must not take the process's shutdown away from the
  // application (`fogmesh up` settles payments and prints its summary on Ctrl-C, then stops anvil).
  // A process that dies of a signal is covered by the watchdog below, like one that is SIGKILLed.
}

/**
 * A SIGKILLed parent runs no exit handler (the test runner kills a file that times out that
 * way): a tiny detached shell loop kills anvil within a second once this process is gone, and
 * ends by itself when anvil ends first.
 */
function watchdog(anvilPid: number): void {
  const script = 'while kill -0 "$1" 2>/dev/null && kill -0 "$2" 2>/dev/null; do sleep 1; done; kill -9 "$2" 2>/dev/null'
  try {
    spawn('sh', ['-c', script, 'fogmesh-anvil-watchdog', String(process.pid), String(anvilPid)], { detached: true, stdio: 'ignore' }).unref()
  } catch {
    // no sh: the exit handlers still cover every exit but SIGKILL
  }
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.unref()
    server.on('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo
      server.close(() => resolve(port))
    })
  })
}

export class AnvilMissingError extends ChainError {
  override name = 'AnvilMissingError'
  constructor() {
    super(ErrorCode.anvilMissing, 'anvil not found', {
      details: 'install the npm package @foundry-rs/anvil (a dependency of fogmesh), put anvil on PATH, or set FOGMESH_ANVIL',
    })
  }
}

/** Starts anvil on a free port and waits until it answers. Throws AnvilMissingError without a binary. */
export async function startAnvil(options: AnvilOptions = {}): Promise<Anvil> {
  const bin = findAnvil()
  if (!bin) throw new AnvilMissingError()
  let lastError: ChainError | null = null
  for (let attempt = 0; attempt < 5; attempt++) {
    try {
      return await startOnce(bin, await freePort(), options)
    } catch (e) {
      // only a lost port race is worth another try
      if (!(e instanceof ChainError) || !/address already in use|os error 98|EADDRINUSE/i.test(e.message)) throw e
      lastError = e
    }
  }
  throw lastError ?? new ChainUnreachableError('anvil did not start')
}

async function startOnce(bin: string, port: number, options: AnvilOptions): Promise<Anvil> {
  const chainId = options.chainId ?? 31337
  const accounts = options.accounts ?? 10
  const args = [
    '--host', '127.0.0.1',
    '--port', String(port),
    '--chain-id', String(chainId),
    '--accounts', String(accounts),
    '--mnemonic', DEV_MNEMONIC,
  ]
  if (options.hardfork) args.push('--hardfork', options.hardfork)
  if (options.gasLimit !== undefined) args.push('--gas-limit', String(options.gasLimit))
  args.push(...(options.extraArgs ?? []))

  hookExit()
  // its own process group: a Ctrl-C at the terminal is for us, and we stop anvil when we are done
  // (the watchdog covers our being killed)
  const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true })
  running.add(child)
  if (child.pid && process.platform !== 'win32') watchdog(child.pid)
  // keep only the tail of anvil's output, for error messages
  let tail = ''
  let listening = false
  const keep = (d: Buffer) => {
    tail = (tail + d.toString()).slice(-4000)
    if (!listening && tail.includes(`Listening on 127.0.0.1:${port}`)) listening = true
  }
  child.stdout?.on('data', keep)
  child.stderr?.on('data', keep)
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => {
      running.delete(child)
      resolve()
    })
  })
  let spawnError: Error | null = null
  child.once('error', (e) => {
    spawnError = e
    running.delete(child)
  })

  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null || spawnError) return
    child.kill('SIGTERM')
    const timer = setTimeout(() => child.kill('SIGKILL'), 3000)
    await exited
    clearTimeout(timer)
  }

  const rpc = `http://127.0.0.1:${port}`
  const timeoutMs = options.startTimeoutMs ?? 20_000
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (spawnError) throw new ChainUnreachableError(`anvil could not be started (${bin})`, { url: rpc, details: (spawnError as Error).message, cause: spawnError })
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new ChainUnreachableError(`anvil exited (${child.exitCode ?? child.signalCode}) before it answered on port ${port}`, { url: rpc, details: tail })
    }
    // ready = OUR process says it listens (not some other process that won the port) and it answers
    if (listening) {
      const id = await rpcCall<string>(rpc, 'eth_chainId', [], 1000).catch(() => null)
      if (id !== null) {
        if (Number(id) === chainId) break
        await stop()
        throw new ChainUnreachableError(`anvil on port ${port} answered chain id ${Number(id)}, expected ${chainId}`, { url: rpc })
      }
    }
    if (Date.now() > deadline) {
      await stop()
      throw new ChainUnreachableError(`anvil did not answer eth_chainId on port ${port} within ${timeoutMs} ms`, { url: rpc, details: tail })
    }
    await new Promise((r) => setTimeout(r, 25))
  }
  return { rpc, port, chainId, accounts: devAccounts(accounts), pid: child.pid ?? -1, stop }
}

/** Moves the chain's clock forward by `seconds` and mines a block with the new time. */
export async function increaseTime(rpc: string, seconds: number | bigint): Promise<void> {
  await rpcCall(rpc, 'evm_increaseTime', [Number(seconds)])
  await rpcCall(rpc, 'evm_mine', [])
}

/** The timestamp of the next mined block is exactly `timestamp` (seconds). */
export async function setNextBlockTimestamp(rpc: string, timestamp: number | bigint): Promise<void> {
  await rpcCall(rpc, 'evm_setNextBlockTimestamp', [Number(timestamp)])
}
