// Who the executor runs as: names from a passwd file, numeric uid[:gid], a clear error otherwise;
// setpriv's command line drops every capability.
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { tmpDir } from '../../../test/support/temp-dirs.ts'
import { findSetpriv, resolveOsUser, setprivPrefix } from './executor-user.ts'

test('names, uid:gid and uid', () => {
  const passwd = join(tmpDir(), 'passwd')
  writeFileSync(passwd, 'root:x:0:0:root:/root:/bin/bash\nfogmesh-exec:x:995:994::/nonexistent:/usr/sbin/nologin\n')
  assert.equal(resolveOsUser('fogmesh-exec', passwd), { uid: 995, gid: 994 })
  assert.equal(resolveOsUser('1234:99', passwd), { uid: 1234, gid: 99 })
  assert.equal(resolveOsUser('1234', passwd), { uid: 1234, gid: 1234 })
  assert.throws(() => resolveOsUser('nobody-here', passwd), /executor user "nobody-here" does not exist \(create it: useradd --system --no-create-home nobody-here\)/)
})

test('setpriv: switches uid, gid and groups and clears the inheritable and ambient sets (root uses Node\'s own uid option)', () => {
  if (process.getuid?.() === 0) {
    assert.is(setprivPrefix({ uid: 995, gid: 994 }), undefined)
    return
  }
  if (!findSetpriv()) return
  assert.equal(setprivPrefix({ uid: 995, gid: 994 })!.slice(1), ['--reuid=995', '--regid=994', '--clear-groups', '--inh-caps=-all', '--ambient-caps=-all', '--'])
})

test.run()
