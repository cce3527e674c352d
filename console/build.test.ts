/**
 * The page builds from source with esbuild, type-checks against DOM types,
 * and its JavaScript stays within the budget: ≤ 250 KB gzipped. No CDN: every
 * script and stylesheet the page loads is its own.
 */
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { tmpDir } from '../test/support/temp-dirs.ts'
import { gzipSync } from 'node:zlib'
import { test } from 'uvu'
import * as assert from 'uvu/assert'

const root = fileURLToPath(new URL('..', import.meta.url))

test('the page type-checks (tsc -p console/web)', () => {
  const r = spawnSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(root, 'console/web')], { encoding: 'utf8' })
  assert.is(r.status, 0, r.stdout + r.stderr)
})

test('esbuild builds it; app.js is at most 250 KB gzipped; nothing is loaded from elsewhere', () => {
  const out = tmpDir('fm-console-build-') // not console/dist: a browser test may be serving it
  const r = spawnSync(process.execPath, [join(root, 'console/build.js'), '--check', '--out', out], { encoding: 'utf8' })
  assert.is(r.status, 0, r.stdout + r.stderr)
  const js = readFileSync(join(out, 'app.js'))
  const gz = gzipSync(js, { level: 9 }).length
  console.log(`app.js ${js.length} bytes, ${gz} gzipped`)
  assert.ok(gz <= 250 * 1024, `${gz} bytes gzipped`)
  const html = readFileSync(join(out, 'index.html'), 'utf8')
  for (const m of html.matchAll(/(?:src|href)="([^"]+)"/g)) assert.ok(!/^(https?:)?\/\//.test(m[1]!), `loads ${m[1]}`)
  assert.not.match(js.toString('utf8'), /https?:\/\/(cdn|unpkg|fonts\.)/, 'no CDN in the bundle')
})

test.run()
