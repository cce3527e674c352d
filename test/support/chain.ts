/**
 * Shared set-up of the contract tests: a fresh anvil per test file, the mesh deployed on it,
 * funded requesters, and helpers for reverts and time.
 *
 *   const chain = useChain(test)          // registers before/after hooks on the uvu suite
 *   chain.test('...', async () => { const { mesh, wallets } = chain.ctx ... })
 *
 * Without an anvil binary the tests are skipped, unless CI is set: then they fail. A failed set-up
 * makes every test of the file fail with its error (uvu would otherwise swallow an error thrown
 * in a `before` hook and report 0 of N passed with exit code 0). Anvil is always stopped.
 */
import * as assert from 'uvu/assert'
import type { Test } from 'uvu'
import { Contract, Interface, Wallet, parseUnits, type ErrorFragment, type ContractTransactionReceipt, type JsonRpcProvider } from 'ethers'
import { AnvilMissingError, findAnvil, startAnvil, type Anvil, type AnvilOptions } from '../../contracts/anvil.ts'
import { decodeRevert } from '../../contracts/revert.ts'
import { ChainError } from '../../contracts/chain-errors.ts'
import { ErrorCode } from '../../protocol/errors.ts'
import { ChannelsClient } from '../../contracts/channels/channels-client.ts'
import { loadArtifact, type ContractName } from '../../contracts/artifacts.ts'
import { confirm } from '../../contracts/tx.ts'
import { connectRpc, deployMesh, type DeployOptions, type MeshDeployment } from '../../contracts/deploy.ts'

export const UNIT = parseUnits('1', 18)
export const tokens = (n: number | string) => parseUnits(String(n), 18)

export interface ChainContext {
  node: Anvil
  provider: JsonRpcProvider
  /** wallets[0] deployed; all are funded dev accounts and hold `fund` tokens each */
  wallets: Wallet[]
  mesh: MeshDeployment
  /** a ChannelsClient per wallet */
  clients: ChannelsClient[]
}

export interface ChainOptions {
  anvil?: AnvilOptions
  deploy?: Omit<DeployOptions, 'signer' | 'rpc' | 'provider'>
  /** tokens minted to every wallet (default 1,000,000) */
  fund?: bigint
  /** how many dev accounts (default 10) */
  accounts?: number
}

type AnyTest = Test<Record<string, unknown>>

export interface Chain {
  /** `test`, or `test.skip` when anvil is missing and CI is not set */
  test: AnyTest
  readonly ctx: ChainContext
}

export function anvilRequired(): boolean {
  return Boolean(process.env.CI)
}

/** Starts anvil and deploys the mesh; also used by the tests that need a second chain. */
export async function startChain(options: ChainOptions = {}): Promise<ChainContext> {
  const accounts = options.accounts ?? 10
  const node = await startAnvil({ accounts, ...options.anvil })
  try {
    const provider = await connectRpc(node.rpc)
    const wallets = node.accounts.map((k) => new Wallet(k, provider))
    const deployer = wallets[0] as Wallet
    const fund = options.fund ?? tokens(1_000_000)
    const mesh = await deployMesh({
      signer: deployer,
      ...options.deploy,
      mint: wallets.map((w) => ({ to: w.address, amount: fund })),
    })
    const clients = await Promise.all(wallets.map((w) => ChannelsClient.connect(mesh.addresses.channels, w)))
    return { node, provider, wallets, mesh, clients }
  } catch (e) {
    await node.stop()
    throw e
  }
}

export async function stopChain(ctx: ChainContext | null): Promise<void> {
  if (!ctx) return
  ctx.provider.destroy()
  await ctx.node.stop()
}

export function useChain(test: AnyTest, options: ChainOptions = {}): Chain {
  return useAnvilFixture(test, () => startChain(options), stopChain)
}

/**
 * The before/after hooks of a test file whose tests share one anvil-backed fixture: `start` once
 * before the first test, `stop` after the last. Without anvil: skipped, or failing when CI is set;
 * a failed start fails every test with its error. `useChain` and `useVerifiedChain` are this.
 */
export function useAnvilFixture<C>(test: AnyTest, start: () => Promise<C>, stop: (ctx: C | null) => Promise<void>): { test: AnyTest; readonly ctx: C } {
  const available = findAnvil() !== null
  let ctx: C | null = null
  let setupError: unknown = null
  if (!available && !anvilRequired()) {
    console.log('anvil not found (and CI not set): skipping these chain tests')
    const skip = Object.assign((name: string) => test.skip(name), { run: () => test.run() })
    return {
      test: skip as unknown as AnyTest,
      get ctx(): C {
        throw new AnvilMissingError()
      },
    }
  }
  test.before(async () => {
    try {
      if (!available) throw new AnvilMissingError()
      ctx = await start()
    } catch (e) {
      setupError = e
    }
  })
  test.after(async () => {
    await stop(ctx)
    ctx = null
  })
  return {
    test,
    get ctx(): C {
      if (setupError) throw setupError
      if (ctx === null) throw new ChainError(ErrorCode.internal, 'chain not started: use chain.ctx inside a test')
      return ctx
    },
  }
}

let allErrors: Interface | null = null
/** One Interface with the custom errors of every compiled contract (OpenZeppelin's included). */
export async function errorsInterface(): Promise<Interface> {
  if (allErrors) return allErrors
  const names: ContractName[] = ['PaymentChannels', 'AgentRegistry', 'MeshToken', 'HostileToken', 'CompactSigChannels', 'Disperse', 'MeshParameters', 'VerificationCourt', 'MeshGovernor', 'MeshTimelock']
  const bySelector = new Map<string, ErrorFragment>()
  for (const name of names) {
    for (const f of new Interface((await loadArtifact(name)).abi).fragments) {
      if (f.type === 'error') bySelector.set((f as ErrorFragment).selector, f as ErrorFragment)
    }
  }
  allErrors = new Interface([...bySelector.values()])
  return allErrors
}

/** The custom error name of a failed call, decoded with every compiled contract's errors. */
export async function decodeRevertName(e: unknown): Promise<string | undefined> {
  return decodeRevert(e, await errorsInterface())?.name
}

/** Awaits `p`, which must revert with the custom error `name` (and these args, when given). */
export async function expectRevert(p: Promise<unknown>, name: string, args?: unknown[]): Promise<void> {
  try {
    await p
  } catch (e) {
    const got = decodeRevert(e, await errorsInterface())
    if (got?.name !== name) {
      throw new assert.Assertion({
        message: `expected revert ${name}, got ${got?.name ?? (e as Error).message?.slice(0, 300)}`,
        generated: false,
        operator: 'revert',
        expects: name,
        actual: got?.name,
      })
    }
    if (args) assert.equal(got.args.map(String), args.map(String), `${name} arguments`)
    return
  }
  assert.unreachable(`expected revert ${name}, but it succeeded`)
}

/** The chain's latest block timestamp. */
export async function now(provider: JsonRpcProvider): Promise<bigint> {
  const block = await provider.getBlock('latest')
  if (!block) throw new ChainError(ErrorCode.internal, 'no latest block')
  return BigInt(block.timestamp)
}

export async function increaseTime(provider: JsonRpcProvider, seconds: number | bigint): Promise<void> {
  await provider.send('evm_increaseTime', [Number(seconds)])
  await provider.send('evm_mine', [])
}

/** The next block (the next transaction, with automine) gets exactly this timestamp. */
export async function setNextTimestamp(provider: JsonRpcProvider, timestamp: bigint): Promise<void> {
  await provider.send('evm_setNextBlockTimestamp', [Number(timestamp)])
}

export async function balanceOf(token: Contract, who: string | { getAddress(): Promise<string> }): Promise<bigint> {
  const address = typeof who === 'string' ? who : await who.getAddress()
  return (await token.getFunction('balanceOf')(address)) as bigint
}

export async function send(contract: Contract, method: string, ...args: unknown[]): Promise<ContractTransactionReceipt> {
  return confirm(await contract.getFunction(method)(...args))
}


/**
 * What a chain call came to, as a string both implementations of a port can be compared on:
 * `ok <what pick returns>` or the custom error `Name(arg, ...)` it reverted with.
 */
export async function outcomeOf<T>(p: Promise<T>, pick: (r: T) => unknown = () => ''): Promise<string> {
  try {
    const r = await p
    const v = pick(r)
    return `ok ${Array.isArray(v) ? v.map(String).join(' ') : String(v)}`.trim()
  } catch (e) {
    const r = decodeRevert(e)
    if (!r) throw e
    return `${r.name}(${r.args.map(String).join(', ')})`
  }
}
