/**
 * The fleet commands as users run them (`node bin/fogmesh.js`): every one has --help and is
 * listed by `fogmesh --help`; `release keygen`, `release publish` and `release show` against a
 * real broker (the manifest retained, the older release refused, the chunks replaced); their
 * user errors are one line on stderr.
 */
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { assertUserError, runFogmesh, showRun } from '../../test/support/fogmesh-cli.ts'
import { fixtureBundle } from '../../test/support/release-fixtures.ts'
import { tmpDir } from '../../test/support/temp-dirs.ts'
import { testBroker } from '../../test/support/test-broker.ts'
import { parseManifest, type ReleaseManifest } from './release-manifest.ts'
import { verifyManifest } from './release-manifest.ts'

test('provision, flash and release have --help, and fogmesh --help lists them', async () => {
  const cases = [
    { args: ['provision', '--help'], usage: /usage: fogmesh provision ssh:\/\/user@host\[:port\]/ },
    { args: ['flash', '--help'], usage: /usage: fogmesh flash / },
    { args: ['release', 'keygen', '--help'], usage: /usage: fogmesh release keygen --out FILE/ },
    { args: ['release', 'publish', '--help'], usage: /usage: fogmesh release publish BUNDLE/ },
    { args: ['release', 'show', '--help'], usage: /usage: fogmesh release show --broker URL/ },
  ]
  const [main, ...runs] = await Promise.all([runFogmesh(['--help']), ...cases.map((c) => runFogmesh(c.args))])
  cases.forEach((c, i) => {
    const r = runs[i]!
    assert.is(r.code, 0, showRun(r))
    assert.match(r.stdout, c.usage, showRun(r))
    assert.is(r.stderr, '', showRun(r))
  })
  for (const name of ['provision', 'flash', 'release keygen', 'release publish', 'release show']) assert.match(main!.stdout, new RegExp(`^\\s+${name}\\s`, 'm'), `fogmesh --help lists ${name}`)
})

test('keygen, publish, show on a real broker: retained and signed; an older release refused; bad input one line each', async () => {
  const dir = tmpDir('fm-release-cli-')
  const key = join(dir, 'fleet.key')
  const broker = await testBroker()
  try {
    const kg = await runFogmesh(['release', 'keygen', '--out', key])
    assert.is(kg.code, 0, showRun(kg))
    assert.match(kg.stdout, /^release key [0-9a-f]{16} written to .*fleet\.key \(secret, mode 0600\)$/m)
    const pub = readFileSync(`${key}.pub`, 'utf8').trim()
    assert.match(pub, /^[0-9a-f]{64}$/)
    assertUserError(await runFogmesh(['release', 'keygen', '--out', key]), /exists already: not overwritten/, 'keygen over a key', 2)

    const v2 = fixtureBundle({ version: '0.2.0' })
    const v1 = fixtureBundle({ version: '0.1.0' })
    const pubd = await runFogmesh(['release', 'publish', v2.tarball, '--key', key, '--broker', broker.url, '--channel', 'beta', '--rollout', '25%', '--labels', 'site=depot-3', '--chunk-bytes', '4096'])
    assert.is(pubd.code, 0, showRun(pubd))
    const chunks = Math.ceil(v2.bytes.length / 4096)
    assert.match(pubd.stdout, new RegExp(`^release 0\\.2\\.0 on beta: x64 ${v2.bytes.length} bytes in ${chunks} chunk\\(s\\); rollout 25%, labels \\{"site":"depot-3"\\}; signed by [0-9a-f]{16}$`, 'm'))
    assert.match(pubd.stdout, new RegExp(`chunk ${chunks}/${chunks} on the broker`))
    assert.match(pubd.stdout, /published fm\/v1\/releases\/beta \(retained\)/)

    const show = await runFogmesh(['release', 'show', '--broker', broker.url, '--channel', 'beta'])
    assert.is(show.code, 0, showRun(show))
    const m: ReleaseManifest = parseManifest(Buffer.from(show.stdout))
    assert.is(m.version, '0.2.0')
    assert.is(m.rollout, 25)
    assert.equal({ ...m.labels }, { site: 'depot-3' })
    assert.is(m.builds[0]!.size, v2.bytes.length)
    assert.is(m.builds[0]!.chunks.length, chunks)
    assert.ok(verifyManifest(m, [pub]), 'signed by the key keygen wrote')

    // an older release is refused unless asked for; the channel keeps 0.2.0
    assertUserError(await runFogmesh(['release', 'publish', v1.tarball, '--key', key, '--broker', broker.url, '--channel', 'beta']), /channel beta has 0\.2\.0; 0\.1\.0 is older/, 'older release', 1)
    const still = parseManifest(Buffer.from((await runFogmesh(['release', 'show', '--broker', broker.url, '--channel', 'beta'])).stdout))
    assert.is(still.version, '0.2.0')

    const bad = join(dir, 'fogmesh-0.3.0-linux-x64.tar.gz')
    writeFileSync(bad, v2.bytes.subarray(0, 1000))
    const cases: Array<[string[], RegExp, string, number]> = [
      [['release'], /release takes a subcommand: keygen, publish, show/, 'no subcommand', 2],
      [['release', 'publish', v2.tarball, '--broker', broker.url], /--key/, 'no key', 2],
      [['release', 'publish', v2.tarball, '--key', key, '--broker', broker.url, '--rollout', '150%'], /--rollout takes a percentage from 0% to 100% \(got 150%\)/, 'rollout out of range', 2],
      [['release', 'publish', v2.tarball, '--key', key, '--broker', broker.url, '--chunk-bytes', '10'], /--chunk-bytes takes a whole number of bytes, at least 1024/, 'chunk too small', 2],
      [['release', 'publish', v2.tarball, '--key', key, '--broker', broker.url, '--channel', 'a/b'], /--channel/, 'channel with a slash', 2],
      [['release', 'publish', join(dir, 'missing.tar.gz'), '--key', key, '--broker', broker.url], /cannot read bundle .*missing\.tar\.gz: ENOENT/, 'missing bundle', 2],
      [['release', 'publish', bad, '--key', key, '--broker', broker.url], /fogmesh-0\.3\.0-linux-x64\.tar\.gz: truncated/, 'truncated bundle', 1],
      [['release', 'publish', v2.tarball, '--key', `${key}.pub`, '--broker', broker.url], /fleet\.key\.pub holds a public key only: signing takes the secret key file/, 'the public key given to sign', 2],
      [['release', 'show', '--broker', broker.url, '--channel', 'nothing-here'], /no release on channel nothing-here/, 'empty channel', 2],
    ]
    // three at a time, with room: a loaded 2-core machine takes seconds per node start
    for (let i = 0; i < cases.length; i += 3) {
      const batch = cases.slice(i, i + 3)
      const runs = await Promise.all(batch.map(([args]) => runFogmesh(args, { timeoutMs: 90_000 })))
      batch.forEach(([, pattern, what, code], j) => assertUserError(runs[j]!, pattern, what, code))
    }
  } finally {
    await broker.close()
  }
})

test.run()
