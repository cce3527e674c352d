/**
 * Debian's Chromium driven by playwright-core, for the console's tests:
 * headless, no sandbox (root), background networking off (this machine has no
 * network beyond loopback), a fresh profile per launch. Tests use
 * `testNeeding(test, 'chromium')`: skipped with the reason where it is missing, failing under CI.
 */
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { chromium, type BrowserContext, type Page } from 'playwright-core'
import { findProgram, requireProgram } from './programs.ts'
import { ROOT } from './paths.ts'
import { tmpDir } from './temp-dirs.ts'

export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
]

export interface Browser {
  context: BrowserContext
  page: Page
  /** Uncaught errors the page threw (a page that breaks on bad input shows here). */
  errors: string[]
  close(): Promise<void>
}

/** True when the browser tests can run (or must: under CI a missing Chromium fails them). */
export const browserAvailable = () => findProgram('chromium') !== undefined || !!process.env.CI

/** Debian's Chromium (fails, naming the package, when it is not installed). */
export async function launchBrowser(viewport = { width: 1600, height: 1000 }): Promise<Browser> {
  const executablePath = requireProgram('chromium')
  const context = await chromium.launchPersistentContext(tmpDir('fm-chromium-'), {
    executablePath,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport,
  })
  const page = context.pages()[0] ?? (await context.newPage())
  const errors: string[] = []
  page.on('pageerror', (e) => errors.push(e.message))
  return { context, page, errors, close: () => context.close() }
}


/**
 * Where screenshots go: `docs/img/` when FM_SCREENSHOTS=docs (to refresh the
 * README's pictures), a temp dir otherwise.
 */
export function screenshotPath(name: string): string {
  const dir = process.env.FM_SCREENSHOTS === 'docs' ? join(ROOT, 'docs', 'img') : tmpDir('fm-shots-')
  mkdirSync(dir, { recursive: true })
  return join(dir, name)
}
