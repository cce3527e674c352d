// Tests for wasm-modules/hello-component (csv-to-json, a job-world component), run through
// the mesh's ComponentRunner. Builds it first (bin/build-components.js) if it is out of
// date. Needs @bytecodealliance/jco: skipped without it, except under CI.
//   node --import tsx wasm-modules/hello-component/hello-component.test.ts
import { execFileSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { ComponentRunner } from '../../agent/engine/component/component-runner.ts'
import { jcoAvailable } from '../../agent/engine/component/jco.ts'
import type { RunnerResult } from '../../agent/engine/runner/runner-result.ts'

const available = await jcoAvailable()
if (!available && process.env['CI']) {
  test('jco is installed (required under CI)', () => {
    assert.unreachable('@bytecodealliance/jco is missing: it is a dependency of this package')
  })
}
const it = available ? test : test.skip

const root = fileURLToPath(new URL('../..', import.meta.url))
const caps = { outputBytes: 1 << 22, stderrBytes: 4096 }
const runner = new ComponentRunner()
let sha = ''
let size = 0

test.before(async () => {
  if (!available) return
  // the same flags as this process (a loader that resolves jco, if any)
  execFileSync(process.execPath, [...process.execArgv, 'bin/build-components.js', 'hello-component'], { cwd: root, stdio: 'pipe' })
  const bytes = new Uint8Array(readFileSync(`${root}wasm-modules/dist/hello-component.wasm`))
  size = bytes.length
  sha = createHash('sha256').update(bytes).digest('hex')
  await runner.load(sha, bytes)
})

function run(input: string | Uint8Array): RunnerResult {
  return runner.run(sha, typeof input === 'string' ? new TextEncoder().encode(input) : input, caps)
}

function ok(input: string | Uint8Array): string {
  const r = run(input)
  if (!r.ok) throw new Error(`expected ok, got ${r.code}: ${r.stderr}`)
  return new TextDecoder().decode(r.output)
}

function err(input: string | Uint8Array): string {
  const r = run(input)
  if (r.ok) throw new Error(`expected an error, got ${new TextDecoder().decode(r.output)}`)
  assert.equal([r.code, r.message], ['exit_nonzero', 'run returned an error'])
  return r.stderr
}

// ---- a reference implementation of the same rules, in TypeScript -----------------------

type Field = { s: number; e: number; quoted: boolean }

/** What csv-to-json must answer: its output, or its error message. */
function reference(bytes: Uint8Array): { ok: true; out: string } | { ok: false; err: string } {
  const fail = (m: string) => ({ ok: false as const, err: `csv-to-json: ${m}` })
  let i = bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf ? 3 : 0
  const bad = firstBadUtf8(bytes, i)
  if (bad >= 0) return fail(`input is not UTF-8 (byte ${bad})`)
  let line = 1
  const at = (k: number) => bytes[k] as number
  const n = bytes.length
  // one record: fields, 'empty' for an empty line, or an error message
  const record = (): Field[] | 'empty' | string => {
    if (at(i) === 10 || at(i) === 13) {
      i += at(i) === 13 && at(i + 1) === 10 ? 2 : 1
      line++
      return 'empty'
    }
    const fields: Field[] = []
    for (;;) {
      if (i < n && at(i) === 34) {
        const startLine = line
        const s = ++i
        for (;;) {
          if (i >= n) return `unterminated quoted field (line ${startLine})`
          if (at(i) === 34) {
            if (at(i + 1) === 34) {
              i += 2
              continue
            }
            break
          }
          if (at(i) === 10 || (at(i) === 13 && at(i + 1) !== 10)) line++
          i++
        }
        fields.push({ s, e: i, quoted: true })
        i++
        if (i < n && at(i) !== 44 && at(i) !== 10 && at(i) !== 13) return `unexpected character after a closing quote (line ${line})`
      } else {
        const s = i
        while (i < n && at(i) !== 44 && at(i) !== 10 && at(i) !== 13) i++
        fields.push({ s, e: i, quoted: false })
      }
      if (i >= n) return fields
      const c = at(i++)
      if (c === 44) continue
      if (c === 13 && at(i) === 10) i++
      line++
      return fields
    }
  }
  const json = (f: Field) => {
    let out = '"'
    for (let k = f.s; k < f.e; k++) {
      const c = at(k)
      if (c === 34) {
        out += '\\"'
        if (f.quoted) k++
      } else if (c === 92) out += '\\\\'
      else if (c === 10) out += '\\n'
      else if (c === 13) out += '\\r'
      else if (c === 9) out += '\\t'
      else if (c < 0x20) out += `\\u00${c.toString(16).padStart(2, '0')}`
      else out += '\u0000' + String.fromCharCode(c) // a byte, decoded below
    }
    return `${out}"`
  }
  const value = (f: Field) => {
    const raw = latin1(bytes.subarray(f.s, f.e))
    return !f.quoted && /^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?$/.test(raw) ? raw : json(f)
  }
  let header: Field[] | undefined
  for (;;) {
    if (i >= n) return fail('no header line')
    const r = record()
    if (r === 'empty') continue
    if (typeof r === 'string') return fail(r)
    header = r
    break
  }
  const keys = header.map((f) => json(f))
  const seen = new Map<string, number>()
  for (const [k, key] of keys.entries()) {
    const first = seen.get(key)
    if (first !== undefined) return fail(`duplicate column name (columns ${first + 1} and ${k + 1})`)
    seen.set(key, k)
  }
  const rows: string[] = []
  while (i < n) {
    const recordLine = line
    const r = record()
    if (r === 'empty') continue
    if (typeof r === 'string') return fail(r)
    if (r.length !== keys.length) {
      return fail(`line ${recordLine} has ${r.length} field${r.length === 1 ? '' : 's'}, the header has ${keys.length}`)
    }
    rows.push(`{${r.map((f, k) => `${keys[k]}:${value(f)}`).join(',')}}`)
  }
  // field bytes were kept as \u0000-marked latin1 characters: turn them back into UTF-8 text
  return { ok: true, out: decodeMarked(`[${rows.join(',')}]\n`) }
}

function latin1(b: Uint8Array): string {
  return Buffer.from(b).toString('latin1')
}

/** Text where each raw byte is `\0` + that byte as a latin1 character; the rest is ASCII. */
function decodeMarked(text: string): string {
  const out: number[] = []
  for (let k = 0; k < text.length; k++) {
    if (text[k] === '\u0000') out.push(text.charCodeAt(++k))
    else out.push(text.charCodeAt(k))
  }
  return new TextDecoder().decode(new Uint8Array(out))
}

/** Offset of the first invalid UTF-8 sequence at or after `from`, or -1. */
function firstBadUtf8(b: Uint8Array, from: number): number {
  const decoder = new TextDecoder('utf-8', { fatal: true })
  let k = from
  while (k < b.length) {
    const c = b[k] as number
    const len = c < 0x80 ? 1 : (c & 0xe0) === 0xc0 ? 2 : (c & 0xf0) === 0xe0 ? 3 : (c & 0xf8) === 0xf0 ? 4 : 0
    if (len === 0 || k + len > b.length) return k
    try {
      decoder.decode(b.subarray(k, k + len))
    } catch {
      return k
    }
    k += len
  }
  return -1
}

// ---- tests ---------------------------------------------------------------------------------

it('is a small job-world component that imports nothing', () => {
  const info = runner.info(sha)
  assert.is(info?.kind, 'component-job')
  assert.equal(info?.imports, [])
  assert.ok(size < 8192, `${size} bytes`)
})

it('converts: numbers stay numbers, the rest are strings, one line of JSON', () => {
  const out = ok('sensor,temp,unit\nkitchen,21.5,C\nhall,-0.25e1,C\n')
  assert.is(out, '[{"sensor":"kitchen","temp":21.5,"unit":"C"},{"sensor":"hall","temp":-0.25e1,"unit":"C"}]\n')
  assert.equal(JSON.parse(out), [
    { sensor: 'kitchen', temp: 21.5, unit: 'C' },
    { sensor: 'hall', temp: -2.5, unit: 'C' },
  ])
})

it('RFC 4180 quoting, CRLF, blank lines, a BOM, UTF-8 text', () => {
  const csv = '\ufeffname,"note, with comma"\r\n\r\n"Zoë ""Z"" 😀","multi\nline"\r\n007,"42"\n'
  assert.equal(JSON.parse(ok(csv)), [
    { name: 'Zoë "Z" 😀', 'note, with comma': 'multi\nline' },
    { name: '007', 'note, with comma': '42' }, // not JSON numbers: a leading zero; quoted
  ])
})

it('a header alone gives []; an empty trailing field counts', () => {
  assert.is(ok('a,b\n'), '[]\n')
  assert.is(ok('a,b\n1,\n'), '[{"a":1,"b":""}]\n')
  assert.is(ok('a\n\\\t\u0001\n'), '[{"a":"\\\\\\t\\u0001"}]\n')
})

it('errors: a message that says what and where', () => {
  assert.is(err(''), 'csv-to-json: no header line')
  assert.is(err('\n\r\n'), 'csv-to-json: no header line')
  assert.is(err('a,b\n1,2\n3\n'), 'csv-to-json: line 3 has 1 field, the header has 2')
  assert.is(err('a,b\n"x\ny",2\n4,5,6\n'), 'csv-to-json: line 4 has 3 fields, the header has 2')
  assert.is(err('a\n"open\n'), 'csv-to-json: unterminated quoted field (line 2)')
  assert.is(err('a\n"x"y\n'), 'csv-to-json: unexpected character after a closing quote (line 2)')
  assert.is(err('id,name,id\n'), 'csv-to-json: duplicate column name (columns 1 and 3)')
  assert.is(err(new Uint8Array([0x61, 0x0a, 0x62, 0xc3, 0x28])), 'csv-to-json: input is not UTF-8 (byte 3)')
  assert.is(err(new Uint8Array([0xed, 0xa0, 0x80])), 'csv-to-json: input is not UTF-8 (byte 0)', 'a surrogate')
  assert.is(err(new Uint8Array([0xc0, 0x80])), 'csv-to-json: input is not UTF-8 (byte 0)', 'an overlong form')
})

it('large input: 20,000 rows', () => {
  let csv = 'i,x,label\n'
  for (let k = 0; k < 20_000; k++) csv += `${k},${(k * 0.5).toString()},"row ${k}"\n`
  const rows = JSON.parse(ok(csv)) as Array<{ i: number; x: number; label: string }>
  assert.is(rows.length, 20_000)
  assert.equal(rows[19_999], { i: 19_999, x: 9999.5, label: 'row 19999' })
})

it('agrees with the reference implementation on 3,000 random inputs', () => {
  const pieces = ['a', 'b', 'x y', '1', '0', '-', '.', 'e', '5', '+', ',', ',', '"', '""', '\n', '\r', '\r\n', '\t', '\\', 'é', '😀', '\u0001', 'E']
  let seed = 12345
  const rand = (k: number) => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff
    return seed % k
  }
  let oks = 0
  for (let round = 0; round < 3000; round++) {
    let s = ''
    const len = rand(40)
    for (let k = 0; k < len; k++) s += pieces[rand(pieces.length)]
    const input = new TextEncoder().encode(s)
    const want = reference(input)
    const got = run(input)
    if (want.ok) {
      oks++
      if (!got.ok) throw new Error(`${JSON.stringify(s)}: expected ${JSON.stringify(want.out)}, got error ${got.stderr}`)
      assert.is(new TextDecoder().decode(got.output), want.out, JSON.stringify(s))
      JSON.parse(want.out) // and it is JSON
    } else {
      if (got.ok) throw new Error(`${JSON.stringify(s)}: expected error ${want.err}, got ${new TextDecoder().decode(got.output)}`)
      assert.is(got.stderr, want.err, JSON.stringify(s))
    }
  }
  assert.ok(oks > 300, `${oks} of the random inputs convert`)
})

test.run()
