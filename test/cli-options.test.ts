// What the libraries refuse, as the command line reports it. A port another program holds is a
// user error, not a crash: `fogmesh broker` and `fogmesh up` print one line naming the flag to
// change and exit 2, and leave nothing running behind them. (The bug: a second `fogmesh broker` on
// one machine died of an unhandled 'error' event on its WebSocket port, with a stack trace.) The
// CLI passes on what the user gave; an option out of range is refused by the library (broker,
// agent) with a ValidationError, and the CLI names the flag.
//   node --import tsx test/cli-options.test.ts
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { stopChild } from './support/child-processes.ts'
import { assertUserError, fogmeshDaemon, runFogmesh, showRun, type Daemon } from './support/fogmesh-cli.ts'
import { plainClient } from './support/mqtt-clients.ts'
import { tmpDir } from './support/temp-dirs.ts'

let first: Daemon | undefined
let mqttPort = 0
let wsPort = 0

test.after(async () => {
  await stopChild(first?.proc)
})

test('a second `fogmesh broker` on a taken WebSocket or MQTT port: one line naming the flag, exit 2', async () => {
  first = await fogmeshDaemon(['broker', '--port', '0', '--ws-port', '0', '--http-port', '0', '--host', '127.0.0.1', '--no-gateway'], /^broker\s+mqtt:\/\/127\.0\.0\.1:(\d+)\s+ws:\/\/127\.0\.0\.1:(\d+)/m)
  mqttPort = Number(first.match[1])
  wsPort = Number(first.match[2])
  const [ws, mqtt] = await Promise.all([
    runFogmesh(['broker', '--port', '0', '--ws-port', String(wsPort), '--http-port', '0', '--host', '127.0.0.1'], { graceMs: 5000 }),
    runFogmesh(['broker', '--port', String(mqttPort), '--ws-port', '0', '--http-port', '0', '--host', '127.0.0.1'], { graceMs: 5000 }),
  ])
  assertUserError(ws!, new RegExp(`^fogmesh: port ${wsPort} is in use \\(--ws-port\\): choose another or 0 for any free port$`), 'WebSocket port taken', 2)
  assertUserError(mqtt!, new RegExp(`^fogmesh: port ${mqttPort} is in use \\(--port\\): choose another or 0 for any free port$`), 'MQTT port taken', 2)
  assert.is(ws!.stdout, '', `nothing started, so nothing announced\n${showRun(ws!)}`)
})

test('`fogmesh up --port P` on a taken port: one line naming --port, exit 2', async () => {
  assert.ok(mqttPort > 0, 'the first broker runs (previous test)')
  const r = await runFogmesh(['up', '--port', String(mqttPort), '--http-port', '0', '--no-chain', '--agents', '1', '--duration', '1'], { graceMs: 5000, timeoutMs: 60_000 })
  assertUserError(r, new RegExp(`^fogmesh: port ${mqttPort} is in use \\(--port\\): choose another or 0 for any free port$`), 'fogmesh up on a taken port', 2)
})

test('`fogmesh up` whose agent cannot start: one line naming the data dir, and it exits', async () => {
  const home = tmpDir('fm-cli-up-')
  writeFileSync(join(home, 'up'), 'a file where the agents\' data dirs go') // mkdir under it fails: ENOTDIR
  const r = await runFogmesh(['up', '--port', '0', '--http-port', '0', '--no-chain', '--agents', '1', '--duration', '30'], { home, graceMs: 10_000, timeoutMs: 60_000 })
  assert.ok(!r.stderr.includes('[test] killed'), `up exited by itself after failing to start an agent\n${showRun(r)}`)
  assert.is(r.code, 1, showRun(r))
  assert.match(r.stderr.trim(), /^fogmesh: dataDir: expected a directory the agent can create and write \(.*agent-1: ENOTDIR\)$/, showRun(r))
})

test('`fogmesh up` on a taken --http-port, found after the broker and gateway started: exit 2, and nothing it started keeps it alive', async () => {
  assert.ok(mqttPort > 0, 'the first broker runs (first test)')
  const held = await import('node:net').then(({ createServer }) => new Promise<import('node:net').Server>((res) => { const s = createServer(); s.listen(0, '127.0.0.1', () => res(s)) }))
  const taken = (held.address() as import('node:net').AddressInfo).port
  try {
    const r = await runFogmesh(['up', '--port', '0', '--http-port', String(taken), '--no-chain', '--agents', '1', '--duration', '30'], { graceMs: 10_000, timeoutMs: 60_000 })
    assert.ok(!r.stderr.includes('[test] killed'), `up exited by itself\n${showRun(r)}`)
    assert.match(r.stdout, /^broker /m, `the broker had started before the port was found taken\n${showRun(r)}`)
    assertUserError(r, new RegExp(`^fogmesh: port ${taken} is in use \\(--http-port\\): choose another or 0 for any free port$`), 'up on a taken --http-port', 2)
  } finally {
    held.close()
  }
})

test('out-of-range options: refused by the library, one line naming the flag, exit 2', async () => {
  const data = tmpDir('fm-cli-opt-')
  const agent = (...args: string[]) => ['agent', '--broker', 'mqtt://127.0.0.1:1', '--name', 'x', '--data', join(data, 'x'), ...args]
  const cases: Array<{ args: string[]; error: RegExp }> = [
    { args: ['broker', '--port', '70000'], error: /^fogmesh: --port: expected at most 65535 \(got 70000\)$/ },
    { args: ['broker', '--port', '0', '--ws-port', '0', '--http-port', '0', '--max-packet-bytes', '5'], error: /^fogmesh: --max-packet-bytes: expected at least 1024 \(got 5\)$/ },
    { args: agent('--slots', '0'), error: /^fogmesh: --slots: expected at least 1 \(got 0\)$/ },
    { args: agent('--heartbeat-ms', '5'), error: /^fogmesh: --heartbeat-ms: expected at least 100 \(got 5\)$/ },
  ]
  const runs = await Promise.all(cases.map((c) => runFogmesh(c.args, { graceMs: 5000 })))
  cases.forEach((c, i) => assertUserError(runs[i]!, c.error, `fogmesh ${c.args.join(' ')}`, 2))
})

test('a second `fogmesh broker` on a taken console port (--http-port): one line naming the flag, exit 2', async () => {
  assert.ok(first, 'the first broker runs')
  const httpPort = Number(/^console\s+http:\/\/[^:]+:(\d+)\//m.exec(first.output())?.[1])
  assert.ok(httpPort > 0, `the first broker prints its console line\n${first.output()}`)
  const r = await runFogmesh(['broker', '--port', '0', '--ws-port', '0', '--http-port', String(httpPort), '--host', '127.0.0.1'], { graceMs: 5000 })
  assertUserError(r, new RegExp(`^fogmesh: port ${httpPort} is in use \\(--http-port\\): choose another or 0 for any free port$`), 'console port taken', 2)
})

test('the broker that holds the ports is unharmed: it serves clients and stops cleanly', async () => {
  assert.ok(first, 'the first broker runs')
  const c = await plainClient(`mqtt://127.0.0.1:${mqttPort}`)
  await c.endAsync()
  const exited = new Promise<number | null>((r) => first!.proc.once('exit', (code) => r(code)))
  first!.proc.kill('SIGTERM')
  assert.is(await exited, 0, first!.output())
})

test.run()
