/**
 * contracts/compile.js: reproducible artifacts (a forced compile into another directory gives the
 * same ABI and bytecode), the up-to-date check, and pinned settings. No chain needed.
 *
 *   node --import tsx contracts/compile.test.ts
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ARTIFACTS_DIR, SETTINGS, compileContracts } from './compile.js'

const read = (dir: string, name: string) => JSON.parse(readFileSync(join(dir, `${name}.json`), 'utf8'))

test('compiling again from scratch gives byte-identical artifacts', async () => {
  await compileContracts({ quiet: true })
  const again = await compileContracts({ quiet: true })
  assert.is(again.compiled, false, 'the second run is skipped: up to date')
  const dir = mkdtempSync(join(tmpdir(), 'fm-solc-'))
  try {
    const fresh = await compileContracts({ force: true, quiet: true, outDir: dir })
    assert.ok(fresh.compiled)
    assert.equal(fresh.contracts, again.contracts)
    for (const name of fresh.contracts) {
      const a = read(ARTIFACTS_DIR, name)
      const b = read(dir, name)
      assert.is(b.bytecode, a.bytecode, `${name} creation bytecode`)
      assert.is(b.deployedBytecode, a.deployedBytecode, `${name} runtime bytecode`)
      assert.equal(b.abi, a.abi, `${name} ABI`)
    }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test('settings are pinned: optimizer, EVM version, no metadata hash in the bytecode', () => {
  assert.equal(SETTINGS.optimizer, { enabled: true, runs: 20000 })
  assert.is(SETTINGS.evmVersion, 'cancun')
  assert.equal(SETTINGS.metadata, { bytecodeHash: 'none', appendCBOR: false })
  const pc = read(ARTIFACTS_DIR, 'PaymentChannels')
  // with appendCBOR the runtime code would end in a0 64 'solc' ... 00 33 (CBOR length)
  assert.not.ok(pc.deployedBytecode.endsWith('0033'), 'no CBOR metadata trailer')
  const info = JSON.parse(readFileSync(join(ARTIFACTS_DIR, 'build-info.json'), 'utf8'))
  assert.match(info.solcVersion, /^0\.8\./)
  assert.ok(info.imports.every((p: string) => p.startsWith('@openzeppelin/contracts/')), 'only OpenZeppelin imports came through the callback')
})

test.run()
