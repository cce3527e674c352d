/**
 * The libgpiod command-line path.
 *
 * The real tools first: Debian's `gpioset --version` answers, so detection runs
 * against the real binary, and `gpioget` on a chip that does not exist must
 * fail with the tool's own message. This kernel (6.18, built without
 * CONFIG_GPIOLIB, CONFIG_MODULES and CONFIG_CONFIGFS_FS) has no /dev/gpiochip*
 * and cannot load gpio-sim or gpio-mockup, so no line can be toggled for real.
 *
 * LAST RESORT, LABELLED: edges and levels are then checked against FAKE
 * `gpiomon`/`gpioset`/`gpioget` scripts on PATH that follow the v1 and v2 CLIs
 * (arguments and output formats as their --help documents them). These prove
 * our argument building and output parsing, not the kernel path.
 */
import { spawnSync } from 'node:child_process'
import { appendFileSync, chmodSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { testNeeding } from '../../test/support/programs.ts'
import { tmpDir } from '../../test/support/temp-dirs.ts'
import { waitFor } from '../../test/support/wait.ts'
import type { Edge } from './gpio.ts'
import { detectGpiodTools, GpiodToolsChip } from './gpiod-tools-chip.ts'

testNeeding(test, 'gpioset')('real libgpiod tools: version detected; a missing chip is a clear error', async () => {
  const info = await detectGpiodTools()
  const v = spawnSync('gpioset', ['--version'], { encoding: 'utf8' }).stdout
  assert.is(info.major, /libgpiod\) v2\./.test(v) ? 2 : 1)
  const chip = await GpiodToolsChip.open({ chip: 'gpiochip99' })
  await chip.input({ line: 3 }, () => {}).then(
    () => assert.unreachable('no chip here'),
    (e: Error) => assert.match(e.message, /gpioget gpiochip99 3 failed: .+/),
  )
  await chip.close()
})

/** Fake tools: `version` 1 or 2; gpiomon replays lines appended to `events`; gpioset logs its args (and stdin) to `log`. */
function fakeTools(version: 1 | 2, interactive: boolean): { env: NodeJS.ProcessEnv; events: string; log: string } {
  const dir = tmpDir('fm-fake-gpiod-')
  const events = join(dir, 'events')
  const log = join(dir, 'log')
  writeFileSync(events, '')
  writeFileSync(log, '')
  const sh = (name: string, body: string) => {
    writeFileSync(join(dir, name), `#!/bin/bash\n${body}\n`)
    chmodSync(join(dir, name), 0o755)
  }
  sh('gpioget', `echo "gpioget $*" >> ${log}; ${version === 2 ? `echo '"3"=inactive'` : 'echo 0'}`)
  sh('gpiomon', `echo "gpiomon $*" >> ${log}; exec tail -n +1 -f ${events}`)
  sh(
    'gpioset',
    [
      `if [ "$1" = "--version" ]; then echo "gpioset (libgpiod) v${version === 2 ? '2.1.3' : '1.6.3'}"; exit 0; fi`,
      `if [ "$1" = "--help" ]; then echo "Usage: gpioset [OPTIONS] <line=value>..."; ${interactive ? 'echo "  -i, --interactive";' : ''} exit 0; fi`,
      `echo "gpioset $*" >> ${log}`,
      version === 2 ? 'echo "Setting line ..."' : '',
      interactive ? `while read -r l; do echo "stdin $l" >> ${log}; done` : 'trap "exit 0" TERM; while true; do sleep 0.05; done',
    ].join('\n'),
  )
  return { env: { ...process.env, PATH: `${dir}:${process.env.PATH}` }, events, log }
}

for (const [version, interactive] of [[1, false], [2, false], [2, true]] as const) {
  test(`FAKE gpiod tools v${version}${interactive ? ' interactive' : ''}: edges parsed with kernel timestamps; outputs held and changed`, async () => {
    const f = fakeTools(version, interactive)
    const chip = await GpiodToolsChip.open({ chip: 'gpiochip0', env: f.env })
    assert.equal(chip.tools, { major: version, interactive })
    const edges: Edge[] = []
    const input = await chip.input({ line: 3, bias: 'pull-up', activeLow: true }, (e) => edges.push(e))
    assert.is(input.value, 0)
    appendFileSync(f.events, version === 2 ? '3 1 1234.500000000\n7 1 1.0\n3 2 1234.512500000\n' : '3 1 1234 500000000\n7 1 1 0\n3 0 1234 512500000\n')
    await waitFor(() => edges.length === 2, 5000, 'two edges')
    assert.equal(edges, [
      { line: 3, value: 1, timeMs: 1234500 },
      { line: 3, value: 0, timeMs: 1234512.5 },
    ])
    const out = await chip.output({ line: 4, initial: 1 })
    await out.set(0)
    await out.set(1)
    await waitFor(() => (interactive ? /stdin set 4=1/.test(readFileSync(f.log, 'utf8')) : true), 5000, 'the interactive set')
    await input.close()
    await out.close()
    await chip.close()
    const log = readFileSync(f.log, 'utf8').trim().split('\n')
    const bias = version === 2 ? '-b pull-up' : '-B pull-up'
    const chipArg = version === 2 ? '-c gpiochip0' : 'gpiochip0'
    assert.ok(log.includes(`gpioget -l ${bias} ${chipArg} 3`), log.join('\n'))
    assert.ok(log.includes(`gpiomon -l ${bias} ${version === 1 ? '-b ' : ''}-F ${version === 2 ? '%o %e %S' : '%o %e %s %n'} ${chipArg} 3`), log.join('\n'))
    const holds = log.filter((l) => l.startsWith('gpioset'))
    const mode = version === 1 ? '--mode=signal' : '--banner'
    if (interactive) {
      assert.equal(holds, [`gpioset ${mode} -i ${chipArg} 4=1`])
      assert.ok(log.includes('stdin set 4=0') && log.includes('stdin set 4=1'))
    } else {
      assert.equal(holds, [`gpioset ${mode} ${chipArg} 4=1`, `gpioset ${mode} ${chipArg} 4=0`, `gpioset ${mode} ${chipArg} 4=1`])
    }
  })
}

test.run()
