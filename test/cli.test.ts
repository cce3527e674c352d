// The `fogmesh` command as users run it, `node bin/fogmesh.js ...` child processes: every
// command's --help, and user errors (docs/contract.md: "a user error is one clear line on stderr
// and a non-zero exit, not a stack trace"). The commands against a mesh: test/cli-mesh.test.ts.
//   node --import tsx test/cli.test.ts
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { modulePath } from '../wasm-modules/index.ts'
import { assertUserError, runFogmesh, showRun } from './support/fogmesh-cli.ts'
import { sha256 } from './support/sha256.ts'
import { tmpDir } from './support/temp-dirs.ts'
import { testBroker } from './support/test-broker.ts'

const ECHO = modulePath('echo')

// a last resort so that this file always ends, even if something below hangs (children are killed at exit)
setTimeout(() => {
  console.error('cli.test.ts: watchdog fired after 170 s (the runner kills at 180 s); killing children and exiting')
  process.exit(1)
}, 170_000).unref()

// ---- --help -----------------------------------------------------------------------

test('fogmesh --help and every command --help print usage and exit 0', async () => {
  const cases: Array<{ args: string[]; usage: RegExp }> = [
    { args: ['--help'], usage: /usage: fogmesh <command>/ },
    { args: ['up', '--help'], usage: /usage: fogmesh up\b/ },
    { args: ['broker', '--help'], usage: /usage: fogmesh broker\b/ },
    { args: ['gateway', '--help'], usage: /usage: fogmesh gateway --broker URL/ },
    { args: ['agent', '--help'], usage: /usage: fogmesh agent --broker URL/ },
    { args: ['module', 'add', '--help'], usage: /usage: fogmesh module add FILE\.wasm --broker URL/ },
    { args: ['submit', '--help'], usage: /usage: fogmesh submit --broker URL --module/ },
    { args: ['status', '--help'], usage: /usage: fogmesh status --broker URL/ },
    { args: ['status', '-h'], usage: /usage: fogmesh status --broker URL/ },
  ]
  const runs = await Promise.all(cases.map((c) => runFogmesh(c.args)))
  cases.forEach((c, i) => {
    const r = runs[i]!
    const what = `fogmesh ${c.args.join(' ')}`
    assert.is(r.code, 0, `${what}: exit 0\n${showRun(r)}`)
    assert.ok(c.usage.test(r.stdout), `${what}: usage on stdout\n${showRun(r)}`)
    assert.is(r.stderr, '', `${what}: nothing on stderr\n${showRun(r)}`)
  })
  // the main help names every command of docs/contract.md's table
  for (const name of ['up', 'broker', 'gateway', 'agent', 'module add', 'submit', 'status']) {
    assert.ok(new RegExp(`^\\s+${name}\\s`, 'm').test(runs[0]!.stdout), `fogmesh --help lists "${name}"\n${runs[0]!.stdout}`)
  }
})

// ---- user errors ----------------------------------------------------------------

test('user errors are one line on stderr, a non-zero exit, no stack trace', async () => {
  const dir = tmpDir('fm-cli-err-')
  const notWasm = join(dir, 'notes.wasm')
  writeFileSync(notWasm, 'this is not WebAssembly\n')
  const missing = join(dir, 'missing.wasm')
  const broker = await testBroker() // for the cases that get past connecting
  try {
    const live = broker.url
    const cases: Array<{ args: string[]; error: RegExp }> = [
      { args: ['bogus'], error: /unknown command "bogus"/ },
      { args: ['module'], error: /subcommand/ },
      { args: ['status', '--broker', live, '--bogus'], error: /unknown option.*--bogus/i },
      { args: ['up', '--frobnicate', '3'], error: /unknown option.*--frobnicate/i },
      { args: ['status'], error: /--broker is required/ },
      { args: ['agent', '--name', 'x'], error: /--broker is required/ },
      { args: ['gateway'], error: /--broker is required/ },
      { args: ['submit', '--module', ECHO], error: /--broker is required/ },
      { args: ['module', 'add', ECHO], error: /--broker is required/ },
      { args: ['submit', '--broker', live], error: /--module is required/ },
      { args: ['module', 'add', '--broker', live], error: /FILE\.wasm/ },
      { args: ['broker', '--port', 'abc'], error: /--port .*abc/ },
      { args: ['up', '--port', 'abc'], error: /--port .*abc/ },
      { args: ['up', '--agents', '-1'], error: /--agents/ },
      { args: ['agent', '--broker', live, '--name', 'bad name!'], error: /--name/ },
      { args: ['module', 'add', missing, '--broker', live], error: new RegExp(`${missing.replace(/[.]/g, '\\.')}.*ENOENT`) },
      { args: ['module', 'add', notWasm, '--broker', live], error: /not a valid WebAssembly module/ },
      { args: ['submit', '--broker', live, '--module', missing], error: /cannot read .*missing\.wasm/ },
      { args: ['submit', '--broker', live, '--module', notWasm], error: /not a valid WebAssembly module/ },
      { args: ['submit', '--broker', live, '--module', sha256('x'), '--input', join(dir, 'no-input.txt')], error: /cannot read input .*no-input\.txt/ },
      // a broker nobody listens on: refused at once, never a hang
      { args: ['status', '--broker', 'mqtt://127.0.0.1:1'], error: /cannot connect to broker mqtt:\/\/127\.0\.0\.1:1/ },
      { args: ['module', 'add', ECHO, '--broker', 'mqtt://127.0.0.1:1'], error: /cannot connect to broker/ },
      { args: ['submit', '--broker', 'mqtt://127.0.0.1:1', '--module', ECHO], error: /cannot connect to broker/ },
      { args: ['agent', '--broker', 'mqtt://127.0.0.1:1', '--name', 'nobroker', '--data', join(dir, 'nobroker')], error: /cannot connect to broker/ },
      { args: ['gateway', '--broker', 'mqtt://127.0.0.1:1'], error: /cannot connect to broker/ },
      // malformed broker URLs
      { args: ['status', '--broker', 'not a url'], error: /broker URL/ },
      { args: ['status', '--broker', 'http://127.0.0.1:1883'], error: /broker URL must start with mqtt:\/\// },
      { args: ['submit', '--broker', 'mqtt://127.0.0.1:99999', '--module', ECHO], error: /broker URL/ },
      { args: ['agent', '--broker', '127.0.0.1:1883', '--name', 'x', '--data', join(dir, 'x')], error: /broker URL/ },
    ]
    // a few at a time: each is a Node process with tsx
    for (let i = 0; i < cases.length; i += 4) {
      const batch = cases.slice(i, i + 4)
      const runs = await Promise.all(batch.map((c) => runFogmesh(c.args, { graceMs: 5000 })))
      batch.forEach((c, j) => {
        const r = runs[j]!
        const what = `fogmesh ${c.args.join(' ')}`
        assertUserError(r, c.error, what)
        // an unreachable broker fails at its first attempt (connection refused), not after retries
        // or a connect timeout: the refusal itself is the message (no clock — a loaded machine is slow)
        if (c.args.includes('mqtt://127.0.0.1:1')) assert.match(r.stderr, /ECONNREFUSED/, `${what}: refused at once, not timed out\n${showRun(r)}`)
      })
    }
  } finally {
    await broker.close()
  }
})

test('a bad option value found after connecting is still one line, and the process ends', async () => {
  const b = await testBroker()
  try {
    const cases: Array<{ args: string[]; error: RegExp }> = [
      { args: ['status', '--broker', b.url, '--listen', 'soon'], error: /--listen .*soon/ },
      { args: ['submit', '--broker', b.url, '--module', ECHO, '--wait', 'soon'], error: /--wait .*soon/ },
      { args: ['agent', '--broker', b.url, '--name', 'p', '--data', join(tmpDir('fm-cli-p-'), 'p'), '--price', 'free'], error: /--price .*free/ },
    ]
    const runs = await Promise.all(cases.map((c) => runFogmesh(c.args, { graceMs: 5000 })))
    cases.forEach((c, i) => assertUserError(runs[i]!, c.error, `fogmesh ${c.args.join(' ')}`))
  } finally {
    await b.close()
  }
})

test.run()
