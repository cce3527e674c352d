/**
 * Device bundles for tests and benches: built from this checkout with `buildBundle`
 * (the code behind `fogmesh bundle`), unpacked with the bundle reader, and the
 * agent in them started as a device would — optionally under qemu-user.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { chmodSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Test } from 'uvu'
import * as assert from 'uvu/assert'
import { startRequester, type Requester } from '../../market/requester.ts'
import type { PresenceOnline } from '../../protocol/messages.ts'
import { verifyResult } from '../../protocol/signature.ts'
import { buildBundle, DEVICE_NODE_FLAGS, writeTree, type BuiltBundle } from '../../fleet/bundle/build-bundle.ts'
import { readBundle } from '../../fleet/bundle/read-bundle.ts'
import type { BundleArch } from '../../fleet/bundle/targets.ts'
import { trackChild } from './child-processes.ts'
import { ROOT } from './paths.ts'
import { requireProgram } from './programs.ts'
import { tmpDir } from './temp-dirs.ts'
import { testBroker } from './test-broker.ts'

export interface UnpackedBundle extends BuiltBundle {
  /** The unpacked top directory. */
  dir: string
}

/** Builds a bundle into a temp dir and unpacks it (through readBundle: every file checked). */
export async function unpackedBundle(arch: BundleArch, withNode = false): Promise<UnpackedBundle> {
  const out = tmpDir(`fm-bundle-${arch}-`)
  const built = await buildBundle({ arch, outDir: out, withNode })
  const read = readBundle(built.tarball)
  const dir = join(out, read.root)
  writeTree(dir, read.files)
  // as install.sh leaves it: readable by the executor's unprivileged user (mkdtemp makes 0700)
  chmodSync(out, 0o755)
  return { ...built, dir }
}

export interface BundleAgent {
  proc: ChildProcess
  id: string
  /** ms from spawn to the "online" line. */
  startMs: number
  output(): string
  stop(): Promise<void>
}

/** qemu-user for an arch, with the cross libc's root (Debian's packages). */
export const QEMU: Record<'arm64' | 'armv7', { bin: string; sysroot: string }> = {
  arm64: { bin: '/usr/bin/qemu-aarch64-static', sysroot: '/usr/aarch64-linux-gnu' },
  armv7: { bin: '/usr/bin/qemu-arm-static', sysroot: '/usr/arm-linux-gnueabihf' },
}

/**
 * `node lib/fogmesh.js agent ...` from an unpacked bundle: with the bundle's Node
 * (under qemu when `qemu` is given) or this process's Node, with the launcher's V8 flags
 * (bin/fogmesh itself needs binfmt_misc to exec an ARM Node). Resolves at the online line.
 */
export async function startBundleAgent(
  bundle: { dir: string },
  args: string[],
  opts: { qemu?: { bin: string; sysroot: string }; node?: string; timeoutMs?: number; nodeFlags?: string[]; entry?: string } = {},
): Promise<BundleAgent> {
  const node = opts.node ?? (opts.qemu ? join(bundle.dir, 'node/bin/node') : process.execPath)
  // an open test mesh (any requester's signed jobs run) unless the test says --accept-from itself
  const accept = args.includes('--accept-from') ? [] : ['--accept-from', 'any']
  const js = [...(opts.nodeFlags ?? DEVICE_NODE_FLAGS.split(' ')), opts.entry ?? join(bundle.dir, 'lib/fogmesh.js'), 'agent', ...args, ...accept]
  const [cmd, argv] = opts.qemu ? [opts.qemu.bin, ['-L', opts.qemu.sysroot, node, ...js]] : [node, js]
  const t0 = performance.now()
  const proc = trackChild(spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: process.env.PATH ?? '/usr/bin:/bin' } }))
  let out = ''
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString()))
  proc.stderr!.on('data', (d: Buffer) => (out += d.toString()))
  const timeoutMs = opts.timeoutMs ?? 20_000
  const { id, startMs } = await new Promise<{ id: string; startMs: number }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`bundle agent not online in ${timeoutMs} ms: ${out}`)), timeoutMs)
    const check = () => {
      const m = /^agent ([0-9a-f]+) "[^"]*" online/m.exec(out)
      if (!m) return
      clearTimeout(timer)
      resolve({ id: m[1]!, startMs: performance.now() - t0 })
    }
    proc.stdout!.on('data', check)
    proc.once('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`bundle agent exited with ${code}: ${out}`))
    })
  })
  return {
    proc,
    id,
    startMs,
    output: () => out,
    stop: () =>
      new Promise<void>((resolve) => {
        if (proc.exitCode !== null || proc.signalCode !== null) return resolve()
        const kill = setTimeout(() => proc.kill('SIGKILL'), 10_000)
        proc.once('exit', () => {
          clearTimeout(kill)
          resolve()
        })
        proc.kill('SIGTERM')
      }),
  }
}

/**
 * Runs one job on agent `agentId` through a real requester and checks what a
 * requester checks, plus the signature against the key the agent advertised.
 * Returns the output and the agent's presence.
 */
export async function runJobOn(
  requester: Requester,
  agentId: string,
  module: Uint8Array,
  input: Uint8Array,
  timeoutMs: number,
): Promise<{ output: Buffer; presence: PresenceOnline; signatureOk: boolean }> {
  const sha = await requester.publishModule(module)
  const r = await requester.submit({ module: sha, input, limits: { timeoutMs } })
  if (r.status !== 'ok' || !r.output) throw new Error(`job failed on ${r.agent}: ${JSON.stringify(r.error)}`)
  if (r.agent !== agentId) throw new Error(`job ran on ${r.agent}, not ${agentId}`)
  const presence = requester.directory.get(agentId)!.presence
  const signatureOk = verifyResult({ id: r.id, agent: r.agent, module: r.module, inputSha256: r.inputSha256, status: r.status, outputSha256: r.outputSha256, fuel: r.fuel, signature: r.signature!, batch: r.result?.batch }, presence.publicKey)
  return { output: r.output, presence, signatureOk }
}

/**
 * The ARM proof (issue 10, item 2) for one arch, as uvu tests: the bundle with its Node for
 * that arch runs under qemu-user, joins an x64 broker (aedes on a port the OS picks), shows
 * online, runs a C (wasi-libc) job whose output equals the C program built natively for this
 * machine, and signs a result the requester accepts. Emulated: generous timeouts.
 *
 * Isolation is `thread`: without binfmt_misc (which a test may not register on the host) qemu-user
 * cannot exec the executor process's ARM Node; the worker-thread entry of the bundle runs the job.
 */
export function qemuProof(test: Test, arch: 'arm64' | 'armv7'): void {
  const state: { bundle?: UnpackedBundle; wasm?: Buffer; native?: string } = {}
  const input = Buffer.from('1.5, 2\n3 4.25 -7e-3\n1e3\n0.1 0.2\n')
  test(`${arch}: the bundle with Node for ${arch}, and the C job built for wasm32-wasi and natively`, async () => {
    const clang = requireProgram('clang')
    requireProgram(QEMU[arch].bin.split('/').pop()!)
    const dir = tmpDir()
    const src = join(ROOT, 'wasm-modules/c-example/sum.c')
    execFileSync(clang, ['--target=wasm32-wasi', '-O2', '-Wall', '-Werror', '-s', '-o', join(dir, 'sum.wasm'), src])
    execFileSync(clang, ['-O2', '-Wall', '-Werror', '-o', join(dir, 'sum'), src])
    state.wasm = readFileSync(join(dir, 'sum.wasm'))
    state.native = execFileSync(join(dir, 'sum'), { input }).toString()
    assert.match(state.native, /^1011\.043\d*\n$/)
    state.bundle = await unpackedBundle(arch, true)
    assert.is(state.bundle.manifest.arch, arch)
    assert.ok(state.bundle.manifest.node.bundled)
  })
  test(`${arch}: under qemu the agent joins the x64 broker, runs the C job like the native build, and its signed result is accepted`, async () => {
    if (!state.bundle || !state.wasm || !state.native) throw new Error('the first test did not build the bundle')
    const broker = await testBroker()
    const requester = await startRequester({ broker: broker.url, auctionWindowMs: 10_000, attemptSlackMs: 120_000, maxAttempts: 1 })
    let agent: BundleAgent | undefined
    try {
      agent = await startBundleAgent(state.bundle, ['--broker', broker.url, '--name', `qemu-${arch}`, '--data', tmpDir(), '--slots', '1', '--isolation', 'thread'], {
        qemu: QEMU[arch],
        timeoutMs: 150_000,
      })
      console.log(`  ${arch} bundle agent (Node ${state.bundle.manifest.node.bundled}, qemu-user) online in ${(agent.startMs / 1000).toFixed(1)} s`)
      await requester.directory.waitFor(1, 30_000)
      const t0 = performance.now()
      const { output, presence, signatureOk } = await runJobOn(requester, agent.id, state.wasm, input, 60_000)
      console.log(`  ${arch}: C job answered in ${((performance.now() - t0) / 1000).toFixed(1)} s: ${JSON.stringify(output.toString())}`)
      assert.is(presence.capacity.arch, arch === 'armv7' ? 'arm' : 'arm64')
      assert.is(output.toString(), state.native)
      assert.ok(signatureOk, 'the result signature verifies against the key the emulated agent advertised')
    } finally {
      await agent?.stop()
      await requester.close()
      await broker.close()
    }
  })
}
