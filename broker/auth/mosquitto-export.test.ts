/**
 * What `fogmesh auth export --mosquitto` writes, line by line (Mosquitto enforcing
 * these files is test/trust-mosquitto.test.ts).
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { tmpDir } from '../../test/support/temp-dirs.ts'
import { CredentialStore } from './credentials.ts'
import { exportMosquitto, mosquittoFiles } from './mosquitto-export.ts'

const AGENT = 'a9dedd4e2ea551eeaf82'

test('password_file carries the same hashes; acl_file a %u pattern and a section per identity; conf turns anonymous off', async () => {
  const store = CredentialStore.inMemory()
  await store.addUser('s1', 'sensor', { iterations: 1000 })
  await store.addUser('gw', 'gateway', { iterations: 1000 })
  await store.addAgent(AGENT, { iterations: 1000 })
  await store.addAgent('97c2b079ae5a4da1c499', { withPassword: false })
  const f = mosquittoFiles(store, '/etc/mosquitto/fogmesh')
  assert.equal(f.passwordFile.trim().split('\n'), [`gw:${store.user('gw')!.hash}`, `s1:${store.user('s1')!.hash}`, `${AGENT}:${store.agents().find((a) => a.id === AGENT)!.hash}`])
  assert.equal(f.skippedAgents, ['97c2b079ae5a4da1c499'])
  const acl = f.aclFile.split('\n')
  assert.ok(acl.includes('pattern read fm/v1/replies/%u/#'))
  const section = (user: string) => {
    const i = acl.indexOf(`user ${user}`)
    const rest = acl.slice(i + 1)
    return rest.slice(0, rest.findIndex((l) => l === '') === -1 ? rest.length : rest.findIndex((l) => l === ''))
  }
  assert.equal(section('s1'), [
    'topic write fm/v1/jobs/submit/s1', 'topic write fm/v1/streams/submit/s1', 'topic readwrite fm/v1/bridge/s1/#',
    'topic write spBv1.0/+/+/s1', 'topic write spBv1.0/+/+/s1/+', 'topic write fm/v1/blobs/+', 'topic read spBv1.0/+/NCMD/s1', 'topic read spBv1.0/+/DCMD/s1/+',
    'topic read fm/v1/gateways/+/presence',
  ])
  assert.ok(section(AGENT).includes(`topic readwrite fm/v1/agents/${AGENT}/#`))
  assert.ok(section(AGENT).includes('topic write fm/v1/requesters/+/inbox'))
  assert.ok(section(AGENT).includes('topic readwrite fm/v1/blobs/want/+'), 'agents ask for and answer blob wants')
  assert.ok(section('gw').includes('topic read fm/v1/requesters/gw/inbox'))
  assert.not.ok(f.aclFile.includes('<open space>'), 'the open space has no Mosquitto form')
  assert.not.ok(section('s1').some((l) => l.includes('replies')), 'the common pattern is not repeated per user')
  for (const line of ['allow_anonymous false', 'password_file /etc/mosquitto/fogmesh/password_file', 'acl_file /etc/mosquitto/fogmesh/acl_file', 'use_username_as_clientid true']) {
    assert.ok(f.conf.split('\n').includes(line), line)
  }
  const dir = tmpDir('fm-export-')
  exportMosquitto(store, dir)
  assert.is(statSync(join(dir, 'password_file')).mode & 0o777, 0o600)
  assert.is(readFileSync(join(dir, 'acl_file'), 'utf8'), mosquittoFiles(store, dir).aclFile)
})

test.run()
