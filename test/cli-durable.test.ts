/** `fogmesh broker --data / --cluster` on the command line: the state line, and user errors as one line, exit 2. */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { assertUserError, fogmeshDaemon, runFogmesh } from './support/fogmesh-cli.ts'
import { tmpDir } from './support/temp-dirs.ts'

test('--data: the broker says where its state is and what it recovered; the gateway journals there', async () => {
  const dir = tmpDir('fm-cli-data-')
  const d = await fogmeshDaemon(['broker', '--data', dir, '--port', '0', '--ws-port', '0', '--host', '127.0.0.1', '--no-console'], /gateway listening/)
  try {
    assert.match(d.output(), new RegExp(`state    ${dir} \\(0 retained, 0 publishes recovered\\)`))
  } finally {
    d.proc.kill('SIGTERM')
    await new Promise((r) => d.proc.once('exit', r))
  }
})

test('user errors: --data with --cluster, a cluster URL that is not redis://, a Redis not there, a retained cap out of range', async () => {
  const dir = tmpDir('fm-cli-data-')
  const base = ['--port', '0', '--ws-port', '0', '--host', '127.0.0.1', '--no-console']
  assertUserError(await runFogmesh(['broker', '--data', dir, '--cluster', 'redis://127.0.0.1:1', ...base]), /choose --data .* or --cluster/, 'both', 2)
  assertUserError(await runFogmesh(['broker', '--cluster', 'http://x', ...base]), /--cluster must be a redis:\/\/ URL/, 'not redis', 2)
  assertUserError(await runFogmesh(['broker', '--cluster', 'redis://127.0.0.1:1', ...base]), /cannot reach Redis at redis:\/\/127.0.0.1:1: connect ECONNREFUSED/, 'no redis (a failure, not a usage error: exit 1)', 1)
  assertUserError(await runFogmesh(['broker', '--max-retained-bytes', '5', ...base]), /--max-retained-bytes: expected at least 1024/, 'cap', 2)
})

test.run()
