// The limit tables (the broker's and the gateway's) are the source of options, flags, config lines
// and the README's Limits section: each limit named once, its default in range, the README saying
// what the code does, and the config file refusing what it does not know, by file and line.
//   node --import tsx broker/limits/broker-limits.test.ts
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { GATEWAY_LIMITS } from '../../market/gateway-limits.ts'
import { ValidationError } from '../../protocol/errors.ts'
import { ROOT } from '../../test/support/paths.ts'
import { BROKER_LIMIT_DEFAULTS, BROKER_LIMITS, resolveBrokerLimits } from './broker-limits.ts'
import { parseBrokerConfig } from './config-file.ts'

const all = [...BROKER_LIMITS, ...GATEWAY_LIMITS]

test('every limit has one flag and one config name, and its default is within its own range', () => {
  assert.is(new Set(all.map((l) => l.flag)).size, all.length)
  assert.is(new Set(all.map((l) => l.config)).size, all.length)
  for (const l of all) {
    assert.is(l.config, l.flag.replaceAll('-', '_'), `${l.flag}: config name is the flag with _`)
    const { min = -Infinity, max = Infinity } = l.rule
    assert.ok(l.default >= min && l.default <= max, `${l.flag}: default ${l.default} in [${min}, ${max}]`)
    assert.ok(l.what.length > 0)
  }
})

/** "64 KiB", "2 MiB", "10,000", "10^12" as the README writes them. */
function readmeNumber(cell: string): number {
  const t = cell.trim()
  const pow = /^(\d+)\^(\d+)$/.exec(t)
  if (pow) return Number(pow[1]) ** Number(pow[2])
  const unit = /^([\d,.]+)\s*(KiB|MiB|GiB)?$/.exec(t)
  if (!unit) throw new Error(`not a README number: ${cell}`)
  const scale = { KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3 }[unit[2] as 'KiB' | 'MiB' | 'GiB'] ?? 1
  return Number(unit[1]!.replaceAll(',', '')) * scale
}

test("the README's Limits tables list every limit with the code's default, flag and config line", () => {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8')
  const section = readme.slice(readme.indexOf('### Limits'))
  const rows = new Map<string, { def: string; config: string }>()
  for (const m of section.matchAll(/^\|([^|\n]+)\|([^|\n]+)\|\s*`--([a-z0-9-]+)`\s*\|\s*`([a-z0-9_]+)`\s*\|$/gm)) {
    rows.set(m[3]!, { def: m[2]!, config: m[4]! })
  }
  for (const l of all) {
    const row = rows.get(l.flag)
    assert.ok(row, `README has a row for --${l.flag}`)
    assert.is(row!.config, l.config, `--${l.flag} config line`)
    assert.is(readmeNumber(row!.def), l.default, `--${l.flag} default`)
  }
})

test('a config file sets what it names; unknown names and bad values are refused by file and line', () => {
  const got = parseBrokerConfig('# limits\nmax_connections 50\n\n  max_retained 7   # a comment\n', 'broker.conf')
  assert.equal(got, { maxConnections: 50, maxRetained: 7 })
  const others: Record<string, number> = {}
  parseBrokerConfig('max_jobs_in_flight 9\n', 'broker.conf', new Set(['max_jobs_in_flight']), others)
  assert.equal(others, { max_jobs_in_flight: 9 })
  const refused = (text: string): ValidationError => {
    try {
      parseBrokerConfig(text, 'broker.conf')
    } catch (err) {
      assert.instance(err, ValidationError)
      return err as ValidationError
    }
    throw new Error(`accepted: ${text}`)
  }
  assert.is(refused('max_connections 5\nmax_conections 5\n').field, 'broker.conf:2')
  assert.is(refused('max_connections -5\n').field, 'broker.conf:1 max_connections')
  assert.is(refused('max_connections 5 6\n').field, 'broker.conf:1 max_connections')
  assert.is(refused('max_connections\n').field, 'broker.conf:1 max_connections')
})

test('resolved limits: defaults merged once, undefined keeps the default, out of range refused naming the field', () => {
  assert.equal(resolveBrokerLimits(), BROKER_LIMIT_DEFAULTS)
  const r = resolveBrokerLimits({ maxConnections: 3, maxRetained: undefined })
  assert.is(r.maxConnections, 3)
  assert.is(r.maxRetained, BROKER_LIMIT_DEFAULTS.maxRetained)
  try {
    resolveBrokerLimits({ connectTimeoutMs: 5 })
    assert.unreachable('a 5 ms connect timeout was accepted')
  } catch (err) {
    assert.instance(err, ValidationError)
    assert.is((err as ValidationError).field, 'broker.connectTimeoutMs')
  }
})

test.run()
