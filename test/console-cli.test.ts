/**
 * `fogmesh broker` serves the console and /metrics on --http-port and says
 * where on a line of its own; a busy --http-port is a user error.
 */
import { spawn } from 'node:child_process'
import { createServer } from 'node:net'
import { fileURLToPath } from 'node:url'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { waitFor } from './support/wait.ts'

const root = fileURLToPath(new URL('..', import.meta.url))

function start(args: string[]) {
  const child = spawn(process.execPath, ['bin/fogmesh.js', ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] })
  const out = { stdout: '', stderr: '' }
  child.stdout.on('data', (d) => (out.stdout += d))
  child.stderr.on('data', (d) => (out.stderr += d))
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)))
  return { child, out, exited }
}

test('fogmesh broker --http-port: "console  http://HOST:PORT/" on its own line; the page and /metrics answer there', async () => {
  const b = start(['broker', '--port', '0', '--ws-port', '0', '--http-port', '0', '--host', '127.0.0.1'])
  try {
    const line = await waitFor(() => /^console  (http:\/\/127\.0\.0\.1:\d+\/)$/m.exec(b.out.stdout) ?? undefined, 30_000, `the console line (${b.out.stdout}${b.out.stderr})`)
    const url = line[1]!
    const page = await fetch(url)
    assert.is(page.status, 200)
    assert.match(await page.text(), /<script type="module" src="app.js">/)
    const metrics = await (await fetch(`${url}metrics`)).text()
    assert.match(metrics, /^fogmesh_broker_connections \d+$/m)
    assert.match(metrics, /^fogmesh_agents\{state="online"\} 0$/m)
    const config = (await (await fetch(`${url}config.json`)).json()) as { mqttPath: string }
    assert.is(config.mqttPath, '/mqtt')
  } finally {
    b.child.kill('SIGTERM')
  }
  assert.is(await b.exited, 0)
})

test('a busy --http-port is one line on stderr and exit 2', async () => {
  const blocker = createServer()
  await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()))
  const port = (blocker.address() as { port: number }).port
  try {
    const b = start(['broker', '--port', '0', '--ws-port', '0', '--http-port', String(port), '--host', '127.0.0.1'])
    const code = await b.exited
    assert.is(code, 2, b.out.stderr)
    assert.is(b.out.stderr.trim(), `fogmesh: port ${port} is in use (--http-port): choose another or 0 for any free port`)
  } finally {
    blocker.close()
  }
})

test('--help names the console and metrics options', async () => {
  for (const [cmd, option] of [['broker', '--http-port'], ['up', '--http-port'], ['agent', '--metrics-port']] as const) {
    const h = start([cmd, '--help'])
    assert.is(await h.exited, 0)
    assert.ok(h.out.stdout.includes(option), `${cmd} --help: ${option}`)
  }
})

test.run()
