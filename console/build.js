#!/usr/bin/env node
// Builds the console page (console/web/) into console/dist/ with esbuild: one
// ES module (app.js: Preact, uPlot, mqtt.js's browser build and our code,
// minified), one stylesheet (app.css) and index.html. Runs in npm postinstall;
// needs no network. Output is not in git.
//
//   node console/build.js             build
//   node console/build.js --check     build, then fail if app.js is over the budget gzipped
//   node console/build.js --out DIR   build into DIR instead
//
// Files are built aside and renamed into place: a console server starting
// meanwhile reads either the old page or the new one, never half of it.
//
// Prints the sizes; exit 1 on a build error.
import { copyFileSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { gzipSync } from 'node:zlib'

/** The page's JavaScript may weigh this much gzipped (issue: ≤ 250 KB). */
export const JS_BUDGET_BYTES = 250 * 1024

const here = fileURLToPath(new URL('.', import.meta.url))
const web = join(here, 'web')
const outArg = process.argv.indexOf('--out')
const dist = outArg > 0 && process.argv[outArg + 1] ? process.argv[outArg + 1] : join(here, 'dist')
const staging = `${dist}.building-${process.pid}`

let esbuild
try {
  esbuild = await import('esbuild')
} catch {
  console.error('console: esbuild is not installed (a dev dependency); the console page is not built, /metrics still works')
  process.exit(0)
}

rmSync(staging, { recursive: true, force: true })
mkdirSync(staging, { recursive: true })
try {
  await esbuild.build({
    entryPoints: { app: join(web, 'main.tsx') },
    outdir: staging,
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: ['chrome110', 'firefox115', 'safari16'],
    minify: true,
    jsx: 'automatic',
    jsxImportSource: 'preact',
    legalComments: 'none',
    logLevel: 'warning',
    define: { 'process.env.NODE_ENV': '"production"' },
  })
} catch {
  rmSync(staging, { recursive: true, force: true })
  process.exit(1) // esbuild printed the errors
}
copyFileSync(join(web, 'index.html'), join(staging, 'index.html'))
mkdirSync(dist, { recursive: true })
for (const name of readdirSync(staging)) renameSync(join(staging, name), join(dist, name))
rmSync(staging, { recursive: true, force: true })

const js = readFileSync(join(dist, 'app.js'))
const css = readFileSync(join(dist, 'app.css'))
const gz = gzipSync(js, { level: 9 }).length
console.log(`console: app.js ${(js.length / 1024).toFixed(1)} KiB (${(gz / 1024).toFixed(1)} KiB gzipped), app.css ${(css.length / 1024).toFixed(1)} KiB`)
if (process.argv.includes('--check') && gz > JS_BUDGET_BYTES) {
  console.error(`console: app.js is ${gz} bytes gzipped, over the ${JS_BUDGET_BYTES}-byte budget`)
  process.exit(1)
}
