#!/usr/bin/env node
// Builds the console page (console/web/) into console/dist/ with esbuild: one
// ES module (app.js: Preact, uPlot, mqtt.js's browser build and our code,
// minified), one stylesheet (app.css) and index.html. Runs in npm postinstall;
// needs no network. Output is not in git.
//
//   node console/build.js           build
//   node console/build.js --check   build, then fail if app.js is over the budget gzipped
//
// Prints the sizes; exit 1 on a build error.
import { copyFileSync, mkdirSync, readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { gzipSync } from 'node:zlib'

/** The page's JavaScript may weigh this much gzipped (issue: ≤ 250 KB). */
export const JS_BUDGET_BYTES = 250 * 1024

const here = fileURLToPath(new URL('.', import.meta.url))
const web = join(here, 'web')
const dist = join(here, 'dist')

let esbuild
try {
  esbuild = await import('esbuild')
} catch {
  console.error('console: esbuild is not installed (a dev dependency); the console page is not built, /metrics still works')
  process.exit(0)
}

rmSync(dist, { recursive: true, force: true })
mkdirSync(dist, { recursive: true })
try {
  await esbuild.build({
    entryPoints: { app: join(web, 'main.tsx') },
    outdir: dist,
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
  process.exit(1) // esbuild printed the errors
}
copyFileSync(join(web, 'index.html'), join(dist, 'index.html'))

const js = readFileSync(join(dist, 'app.js'))
const css = readFileSync(join(dist, 'app.css'))
const gz = gzipSync(js, { level: 9 }).length
console.log(`console: app.js ${(js.length / 1024).toFixed(1)} KiB (${(gz / 1024).toFixed(1)} KiB gzipped), app.css ${(css.length / 1024).toFixed(1)} KiB`)
if (process.argv.includes('--check') && gz > JS_BUDGET_BYTES) {
  console.error(`console: app.js is ${gz} bytes gzipped, over the ${JS_BUDGET_BYTES}-byte budget`)
  process.exit(1)
}
