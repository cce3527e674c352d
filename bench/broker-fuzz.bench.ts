/**
 * The long fuzzing run: random and mutated MQTT packets at a `fogmesh broker`
 * process (all limits at their defaults) for SECONDS, 32 connections at a
 * time, seeded. Reports connections fuzzed, whether the broker is still up
 * and serving, and its RSS before and after.
 *
 *   node --import tsx bench/broker-fuzz.bench.ts [SECONDS=120] [SEED]
 */
import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { collect, plainClient } from '../test/support/mqtt-clients.ts'
import { fuzzConnection } from '../test/support/mqtt-fuzz.ts'
import { seededRandom } from '../test/support/rng.ts'
import { waitFor } from '../test/support/wait.ts'
import { exitOnSignal, stopChild, trackChild } from '../test/support/child-processes.ts'
import { ROOT } from '../test/support/paths.ts'
import { header, progress, target } from './report.ts'
import { int } from './summary.ts'

exitOnSignal()

const SECONDS = Number(process.argv[2] ?? 120)
const SEED = Number(process.argv[3] ?? Date.now() % 2 ** 31)
const PARALLEL = 32

header('broker fuzzing: random and mutated MQTT packets at fogmesh broker', [`${SECONDS} s, ${PARALLEL} connections at a time, seed ${SEED}`])

const child = trackChild(spawn(process.execPath, [join(ROOT, 'bin/fogmesh.js'), 'broker', '--port', '0', '--ws-port', '0', '--host', '127.0.0.1', '--no-gateway', '--no-console'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] }))
let out = ''
child.stdout!.on('data', (d: Buffer) => (out += d.toString()))
child.stderr!.on('data', (d: Buffer) => (out += d.toString()))
const port = Number((await waitFor(() => /broker\s+mqtt:\/\/127\.0\.0\.1:(\d+)/.exec(out) ?? undefined, 30_000, 'the broker'))[1])
const rss = () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))![1]) / 1024
const before = rss()
const rng = seededRandom(SEED)
const until = Date.now() + SECONDS * 1000
let connections = 0
const ticker = setInterval(() => progress(`${connections} connections, RSS ${rss().toFixed(0)} MiB`), 10_000)
await Promise.all(Array.from({ length: PARALLEL }, async () => {
  while (Date.now() < until && child.exitCode === null) {
    connections++
    await fuzzConnection(rng, port, 3000)
  }
}))
clearInterval(ticker)
const alive = child.exitCode === null
let served = false
if (alive) {
  const a = await plainClient(`mqtt://127.0.0.1:${port}`)
  const got = collect(a)
  await a.subscribeAsync('after/fuzz', { qos: 1 })
  await a.publishAsync('after/fuzz', 'x', { qos: 1 })
  served = await waitFor(() => got.length > 0, 5000, 'a message').then(() => true, () => false)
  await a.endAsync()
}
const after = alive ? rss() : NaN
console.log(`connections fuzzed: ${int(connections)} (${int(connections / SECONDS)}/s); broker RSS ${before.toFixed(0)} -> ${after.toFixed(0)} MiB`)
target('broker still up and serving after the fuzzing', alive && served ? 'yes' : `no (exit ${child.exitCode}): ${out.slice(-500)}`, alive && served)
await stopChild(child)
process.exit(0)
