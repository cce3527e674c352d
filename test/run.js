#!/usr/bin/env node
// The test command: the type check, then every *.test.ts file in its own
// process (uvu inside), then one closing line of our own: `N passed, N failed`.
//
//   npm test                 everything
//   npm test -- market       only test files whose path contains "market"
import { spawn } from 'node:child_process'
import { readdirSync, statSync } from 'node:fs'
import { join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const filters = process.argv.slice(2)
const parallel = Math.max(1, Number(process.env.FM_TEST_JOBS ?? 2))
const fileTimeoutMs = Number(process.env.FM_TEST_TIMEOUT_MS ?? 180_000)
const SKIP_DIRS = new Set(['node_modules', '.git', 'dist', '.fogmesh'])

function findTests(dir, out = []) {
  for (const name of readdirSync(dir)) {
    if (SKIP_DIRS.has(name)) continue
    const path = join(dir, name)
    if (statSync(path).isDirectory()) findTests(path, out)
    else if (name.endsWith('.test.ts')) out.push(path)
  }
  return out
}

function run(cmd, args, timeoutMs) {
  return new Promise((resolve) => {
    const started = Date.now()
    const child = spawn(cmd, args, {
      cwd: root,
      env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let output = ''
    child.stdout.on('data', (d) => (output += d))
    child.stderr.on('data', (d) => (output += d))
    const timer = setTimeout(() => {
      output += `\n[test runner] killed after ${timeoutMs} ms\n`
      child.kill('SIGKILL')
    }, timeoutMs)
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      resolve({ code: code ?? 1, signal, output, ms: Date.now() - started })
    })
  })
}

const strip = (s) => s.replace(/\x1b\[[0-9;]*m/g, '')

function counts(output) {
  const text = strip(output)
  const total = /Total:\s+(\d+)/.exec(text)
  const passed = /Passed:\s+(\d+)/.exec(text)
  const skipped = /Skipped:\s+(\d+)/.exec(text)
  if (!total || !passed) return null
  return { total: +total[1], passed: +passed[1], skipped: skipped ? +skipped[1] : 0 }
}

let passed = 0
let failed = 0
let skipped = 0

// 1. the type check counts as one test
if (filters.length === 0) {
  process.stdout.write('tsc --noEmit ... ')
  const tsc = await run(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '--noEmit', '-p', root], 300_000)
  if (tsc.code === 0) {
    passed++
    console.log(`ok (${(tsc.ms / 1000).toFixed(1)} s)`)
  } else {
    failed++
    console.log('FAILED')
    console.log(tsc.output)
  }
}

// 2. the test files, `parallel` at a time
const files = findTests(root)
  .filter((f) => filters.length === 0 || filters.some((x) => relative(root, f).includes(x)))
  .sort()
// files that measure the machine (frame times at 1,000 agents) run last and alone: `*-load.*.test.ts`
const alone = (f) => /-load\.[^/]*test\.ts$/.test(f)
const queue = files.filter((f) => !alone(f))
const last = files.filter(alone)
async function worker(from = queue) {
  for (let file = from.shift(); file; file = from.shift()) {
    const name = relative(root, file)
    const r = await run(process.execPath, ['--import', 'tsx', file], fileTimeoutMs)
    const c = counts(r.output)
    if (c && r.code === 0) {
      passed += c.passed
      skipped += c.skipped
      console.log(`ok   ${name}  ${c.passed} passed${c.skipped ? `, ${c.skipped} skipped` : ''} (${(r.ms / 1000).toFixed(1)} s)`)
    } else {
      const ok = c ? c.passed : 0
      const bad = c ? Math.max(1, c.total - c.passed - c.skipped) : 1
      passed += ok
      failed += bad
      console.log(`FAIL ${name}  exit ${r.code}${r.signal ? ` (${r.signal})` : ''}, ${bad} failed (${(r.ms / 1000).toFixed(1)} s)`)
      console.log(strip(r.output).split('\n').map((l) => '     | ' + l).join('\n'))
    }
  }
}
await Promise.all(Array.from({ length: Math.min(parallel, Math.max(1, queue.length)) }, () => worker()))
await worker(last)

if (files.length === 0 && filters.length > 0) {
  console.log(`no test file matches ${filters.join(' ')}`)
  failed++
}
console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`)
process.exit(failed === 0 && passed > 0 ? 0 : 1)
