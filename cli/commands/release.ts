import { readFileSync } from 'node:fs'
import { basename } from 'node:path'
import { buildRelease } from '../../fleet/release/build-release.ts'
import { currentRelease, ReleasePublisher } from '../../fleet/release/publish-release.ts'
import { generateReleaseKey, readReleaseKey } from '../../fleet/release/release-key.ts'
import { channelName } from '../../fleet/release/release-manifest.ts'
import { FogmeshError } from '../../protocol/errors.ts'
import { connect, type ClientCredentials } from '../../protocol/transport.ts'
import { labelsOption, requireString, UsageError, type Command } from '../command.ts'
import { CREDENTIAL_OPTIONS, CREDENTIAL_USAGE, credentialsFromOptions } from '../client-credentials.ts'

function channelOption(values: Record<string, unknown>): string {
  const c = typeof values.channel === 'string' ? values.channel : 'stable'
  try {
    return channelName(c, '--channel')
  } catch (err) {
    throw new UsageError((err as FogmeshError).shortMessage)
  }
}

export const releaseKeygenCommand: Command = {
  name: 'release keygen',
  summary: "creates the fleet's release key (ed25519): the secret to sign releases, the public half for agents",
  usage: `usage: fogmesh release keygen --out FILE

  --out FILE   where the secret key goes (mode 0600; never overwritten); FILE.pub gets the public key
Give agents the public key: fogmesh agent ... --release-key FILE.pub (or its 64 hex characters).`,
  options: { out: { type: 'string' } },
  async run(values) {
    const out = requireString(values, 'out', 'the file for the secret key, e.g. ~/.fogmesh/release.key')
    const k = generateReleaseKey(out)
    console.log(`release key ${k.keyId} written to ${out} (secret, mode 0600)`)
    console.log(`public key ${k.publicKey} (also in ${k.publicPath}): give it to agents with --release-key`)
    return 0
  },
}

export const releasePublishCommand: Command = {
  name: 'release publish',
  summary: 'publishes a signed OTA release of one or more bundles; agents on the channel update, with rollback',
  usage: `usage: fogmesh release publish BUNDLE.tar.gz [BUNDLE2.tar.gz ...] --key FILE --broker URL
                              [--channel stable] [--rollout N%] [--labels k=v,...] [--chunk-bytes N] [--allow-older]

  BUNDLE       tarballs from fogmesh bundle (one per arch, all the same version)
  --key FILE   the release key from fogmesh release keygen
  --broker URL the broker the agents use
  --channel C  default stable
  --rollout N% the share of the channel's agents that take it, by agent id hash (default 100%)
  --labels k=v only agents with these labels take it
  --chunk-bytes N  chunk size on the broker (default 1048576; keep it under the broker's packet cap)
  --allow-older    publish even if the channel has a newer release (agents still refuse downgrades)
${CREDENTIAL_USAGE}
                  (on a broker with --auth: a deployer, fogmesh auth add NAME --role deployer)`,
  options: {
    key: { type: 'string' },
    broker: { type: 'string' },
    channel: { type: 'string' },
    rollout: { type: 'string' },
    labels: { type: 'string' },
    'chunk-bytes': { type: 'string' },
    'allow-older': { type: 'boolean' },
    ...CREDENTIAL_OPTIONS,
  },
  async run(values, positionals) {
    if (positionals.length === 0) throw new UsageError('release publish takes the bundle tarball(s) to release (see fogmesh release publish --help)')
    const keyFile = requireString(values, 'key', 'the release key (fogmesh release keygen --out FILE)')
    const broker = requireString(values, 'broker', 'the MQTT broker URL, e.g. mqtt://127.0.0.1:1883')
    const channel = channelOption(values)
    const rawRollout = typeof values.rollout === 'string' ? values.rollout : '100%'
    const m = /^(\d{1,3})%?$/.exec(rawRollout)
    if (!m || Number(m[1]) > 100) throw new UsageError(`--rollout takes a percentage from 0% to 100% (got ${rawRollout})`)
    const chunk = values['chunk-bytes']
    if (chunk !== undefined && (typeof chunk !== 'string' || !/^\d+$/.test(chunk) || Number(chunk) < 1024)) throw new UsageError('--chunk-bytes takes a whole number of bytes, at least 1024')
    const key = readReleaseKey(keyFile)
    const bundles = positionals.map((file) => {
      try {
        return { file: basename(file), bytes: readFileSync(file) }
      } catch (err) {
        throw new UsageError(`cannot read bundle ${file}: ${(err as NodeJS.ErrnoException).code ?? 'unreadable'}`)
      }
    })
    const release = buildRelease({ bundles, key, channel, rollout: Number(m[1]), labels: labelsOption(values.labels), ...(chunk !== undefined ? { chunkBytes: Number(chunk) } : {}) })
    const man = release.manifest
    console.log(`release ${man.version} on ${channel}: ${man.builds.map((b) => `${b.arch} ${b.size} bytes in ${b.chunks.length} chunk(s)`).join(', ')}; rollout ${man.rollout}%${Object.keys(man.labels).length ? `, labels ${JSON.stringify(man.labels)}` : ''}; signed by ${key.keyId}`)
    const conn = await connect(broker, { reconnect: false, ...credentialOption(values) })
    try {
      const pub = new ReleasePublisher(conn)
      pub.on('chunk', (c) => {
        if (c.index === c.total || c.index % 8 === 0) console.log(`  chunk ${c.index}/${c.total} on the broker`)
      })
      const r = await pub.publish(release, { allowOlder: values['allow-older'] === true })
      console.log(`published fm/v1/releases/${channel} (retained)${r.replaced ? `, replacing ${r.replaced.version} (${r.cleared} old chunk(s) cleared)` : ''}`)
    } finally {
      await conn.close()
    }
    return 0
  },
}

export const releaseShowCommand: Command = {
  name: 'release show',
  summary: "prints a channel's current release manifest",
  usage: `usage: fogmesh release show --broker URL [--channel stable]
${CREDENTIAL_USAGE}`,
  options: { broker: { type: 'string' }, channel: { type: 'string' }, ...CREDENTIAL_OPTIONS },
  async run(values) {
    const broker = requireString(values, 'broker', 'the MQTT broker URL, e.g. mqtt://127.0.0.1:1883')
    const channel = channelOption(values)
    const conn = await connect(broker, { reconnect: false, ...credentialOption(values) })
    try {
      const m = await currentRelease(conn, channel)
      if (!m) throw new FogmeshError('usage', `no release on channel ${channel} at ${broker}`)
      console.log(JSON.stringify(m, null, 2))
    } finally {
      await conn.close()
    }
    return 0
  },
}

function credentialOption(values: Record<string, unknown>): { credentials?: ClientCredentials } {
  const credentials = credentialsFromOptions(values)
  return credentials ? { credentials } : {}
}
