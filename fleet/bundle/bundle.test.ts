// `fogmesh bundle` for x64, end to end: the tarball is whole and reproducible, holds nothing a
// device must not have, and the agent in it (system Node, default process isolation: the bundled
// executor and worker entries) joins a real broker and runs a job whose signed result the
// requester accepts. Bad bundles and bad hosts are one line naming the cause.
import { spawnSync } from 'node:child_process'
import { readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { startRequester } from '../../market/requester.ts'
import { ErrorCode, FogmeshError } from '../../protocol/errors.ts'
import { runJobOn, startBundleAgent, unpackedBundle, type UnpackedBundle } from '../../test/support/bundles.ts'
import { ROOT } from '../../test/support/paths.ts'
import { tmpDir } from '../../test/support/temp-dirs.ts'
import { testBroker } from '../../test/support/test-broker.ts'
import { buildBundle } from './build-bundle.ts'
import { checkHost } from './manifest.ts'
import { readBundle, verifyBundleDir } from './read-bundle.ts'

let bundle: UnpackedBundle

const code = (fn: () => unknown): string => {
  try {
    fn()
  } catch (err) {
    assert.instance(err, FogmeshError)
    return `${(err as FogmeshError).code}: ${(err as FogmeshError).shortMessage}`
  }
  throw new Error('did not throw')
}

test.before(async () => {
  bundle = await unpackedBundle('x64')
})

test('the tarball: manifest first, every file hashed, small, reproducible, nothing a device must not have', async () => {
  const read = readBundle(bundle.tarball)
  assert.is(read.root, 'fogmesh-0.1.0-linux-x64'.replace('0.1.0', bundle.manifest.version))
  const paths = bundle.manifest.files.map((f) => f.path)
  for (const p of ['bin/fogmesh', 'install.sh', 'lib/fogmesh.js', 'lib/executor.main.js', 'lib/worker.main.js', 'systemd/fogmesh-agent.service', 'etc/agent.json', 'package.json']) {
    assert.ok(paths.includes(p), p)
  }
  assert.is(bundle.manifest.node.bundled, null)
  assert.ok(bundle.jsBytes < 2 * 1024 * 1024, `agent JavaScript ${bundle.jsBytes} bytes`)
  const inputs = bundle.jsByPackage.map(([p]) => p)
  for (const never of ['solc', 'typescript', 'tsx', '@foundry-rs/anvil', 'better-sqlite3', '@bytecodealliance/jco-transpile']) assert.not.ok(inputs.includes(never), never)
  // built again: the same bytes
  const again = await buildBundle({ arch: 'x64', outDir: tmpDir() })
  assert.is(again.sha256, bundle.sha256)
  assert.is(readFileSync(`${bundle.tarball}.sha256`, 'utf8'), `${bundle.sha256}  ${bundle.dirName}.tar.gz\n`)
  // what install.sh checks without Node
  const sums = spawnSync('sha256sum', ['-c', '--quiet', 'SHA256SUMS'], { cwd: bundle.dir, encoding: 'utf8' })
  assert.is(sums.status, 0, sums.stdout + sums.stderr)
})

test('the bundled agent joins a broker, runs a job in its executor process, and the requester accepts its signed result', async () => {
  const broker = await testBroker()
  const requester = await startRequester({ broker: broker.url, auctionWindowMs: 2000 })
  const agent = await startBundleAgent(bundle, ['--broker', broker.url, '--name', 'bundled', '--data', tmpDir(), '--slots', '1'])
  try {
    await requester.directory.waitFor(1, 5000)
    const echo = readFileSync(join(ROOT, 'wasm-modules/dist/echo.wasm'))
    const { output, presence, signatureOk } = await runJobOn(requester, agent.id, echo, Buffer.from('hello from a bundle'), 10_000)
    assert.is(output.toString(), 'hello from a bundle')
    assert.ok(signatureOk, 'signature verifies against the advertised key')
    assert.is(presence.version, bundle.manifest.version)
    assert.is(presence.capacity.arch, 'x64')
  } finally {
    await agent.stop()
    await requester.close()
    await broker.close()
  }
  assert.match(agent.output(), /SIGTERM: finishing running jobs/)
})

test('--config FILE: the file gives the options, flags override it, unknown keys are refused', async () => {
  const broker = await testBroker()
  const dir = tmpDir()
  const cfg = join(dir, 'agent.json')
  writeFileSync(cfg, JSON.stringify({ broker: 'mqtt://127.0.0.1:1', name: 'from-file', data: join(dir, 'state'), labels: { site: 'depot-3' }, slots: 1, isolation: 'thread' }))
  const requester = await startRequester({ broker: broker.url, auctionWindowMs: 2000 })
  const agent = await startBundleAgent(bundle, ['--config', cfg, '--broker', broker.url])
  try {
    await requester.directory.waitFor(1, 5000)
    const p = requester.directory.get(agent.id)!.presence
    assert.is(p.name, 'from-file')
    assert.is(JSON.stringify(p.labels), '{"site":"depot-3"}')
    assert.match(agent.output(), new RegExp(`data in ${join(dir, 'state')}`))
  } finally {
    await agent.stop()
    await requester.close()
    await broker.close()
  }
  writeFileSync(cfg, JSON.stringify({ broker: 'mqtt://127.0.0.1:1', colour: 'blue' }))
  const bad = spawnSync(process.execPath, [join(bundle.dir, 'lib/fogmesh.js'), 'agent', '--config', cfg], { encoding: 'utf8' })
  assert.is(bad.status, 2)
  assert.match(bad.stderr, /^fogmesh: config .*agent\.json: unknown key "colour" \(known: broker, name,/)
  assert.is(bad.stderr.trim().split('\n').length, 1)
})

test('bad bundles: truncated, corrupted, tampered, for another arch; each one line naming the cause', () => {
  const gz = readFileSync(bundle.tarball)
  assert.match(code(() => readBundle(gz.subarray(0, Math.floor(gz.length / 2)), 'half.tar.gz')), /^bad_bundle: half\.tar\.gz: truncated/)
  assert.match(code(() => readBundle(Buffer.from('not a tarball at all'), 'x.tar.gz')), /^bad_bundle: x\.tar\.gz: not a gzip file or corrupted/)
  const flipped = Buffer.from(gz)
  flipped[Math.floor(gz.length / 2)] = (flipped[Math.floor(gz.length / 2)] as number) ^ 0x55
  assert.match(code(() => readBundle(flipped, 'flipped.tar.gz')), /^bad_bundle: flipped\.tar\.gz: (not a gzip file or corrupted|corrupted|.* does not match its sha256)/)
  // an unpacked tree with one file changed
  const tree = tmpDir()
  const read = readBundle(gz)
  const files = new Map(read.files)
  files.set('lib/worker.main.js', { mode: 0o644, data: Buffer.concat([Buffer.from(files.get('lib/worker.main.js')!.data), Buffer.from('\n')]) })
  for (const [p, f] of files) {
    const path = join(tree, p)
    spawnSync('mkdir', ['-p', join(path, '..')])
    writeFileSync(path, f.data)
  }
  assert.match(code(() => verifyBundleDir(tree)), /lib\/worker\.main\.js is \d+ bytes, the manifest says \d+ \(truncated or corrupted\)$/)
  assert.match(code(() => checkHost(bundle.manifest, { arch: 'arm64', nodeVersion: '20.19.0', name: 'pi-7' })), /^bad_bundle: fogmesh .* \(x64\): bundle is for x64, pi-7 is arm64$/)
  assert.match(code(() => checkHost(bundle.manifest, { arch: 'x64', nodeVersion: undefined, name: 'router-2' })), /^bad_bundle: router-2: no Node\.js found; install Node >= 20\.11\.0 or use a bundle made with --with-node$/)
  assert.match(code(() => checkHost(bundle.manifest, { arch: 'x64', nodeVersion: 'v18.19.0', name: 'old-pi' })), /^bad_bundle: old-pi: Node v18\.19\.0 is too old/)
  assert.is(ErrorCode.badBundle, 'bad_bundle')
})

test('a host without Node: the launcher and install.sh say so in one line', () => {
  // a PATH with every tool of this machine but node
  const bin = tmpDir()
  for (const name of readdirSync('/usr/bin')) if (name !== 'node' && name !== 'nodejs') symlinkSync(join('/usr/bin', name), join(bin, name))
  const r = spawnSync('/bin/sh', [join(bundle.dir, 'bin/fogmesh'), '--version'], { encoding: 'utf8', env: { PATH: bin } })
  assert.is(r.status, 127)
  assert.match(r.stderr, /^fogmesh: no Node\.js on .*: install Node >= 20\.11\.0 or use a bundle made with --with-node\n$/)
  if (process.getuid?.() === 0) {
    const i = spawnSync('/bin/sh', [join(bundle.dir, 'install.sh'), '--no-start'], { encoding: 'utf8', env: { PATH: bin } })
    assert.is(i.status, 1, i.stdout + i.stderr)
    assert.match(i.stderr, /^install\.sh: no Node\.js on .*: install Node >= 20\.11\.0, or use a bundle made with --with-node\n$/)
  }
})

test('the CLI: fogmesh bundle --help, a bad --arch is one line and exit 2', () => {
  const run = (...args: string[]) => spawnSync(process.execPath, [join(ROOT, 'bin/fogmesh.js'), ...args], { encoding: 'utf8', cwd: ROOT })
  const help = run('bundle', '--help')
  assert.is(help.status, 0)
  assert.match(help.stdout, /--with-node/)
  const bad = run('bundle', '--arch', 'mips')
  assert.is(bad.status, 2)
  assert.is(bad.stderr, 'fogmesh: --arch is arm64, armv7 or x64 (got mips)\n')
})

test.run()
