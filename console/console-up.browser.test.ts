/**
 * The console of a real `fogmesh up` (embedded broker, gateway, three agents,
 * the simulated sensor, a local anvil chain with payment channels) in
 * Chromium: every agent online, job counts rising, and what agents were paid
 * on chain, down to each settlement's transaction hash.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { findAnvil } from '../contracts/anvil.ts'
import { browserAvailable, launchBrowser, screenshotPath, type Browser } from '../test/support/browser.ts'
import { stopChild } from '../test/support/child-processes.ts'
import { ensureConsoleBuilt } from '../test/support/console-mesh.ts'
import { fogmeshDaemon, type Daemon } from '../test/support/fogmesh-cli.ts'
import { testNeeding, testUnless } from '../test/support/programs.ts'
import { sleep, waitFor } from '../test/support/wait.ts'

const upTest = testUnless(testNeeding(test, 'chromium'), findAnvil() || process.env.CI ? undefined : 'anvil not installed')
let up: Daemon | undefined
let browser: Browser | undefined
let url = ''

test.before(async () => {
  if (!browserAvailable() || (!findAnvil() && !process.env.CI)) return
  try {
    ensureConsoleBuilt()
    browser = await launchBrowser()
    up = await fogmeshDaemon(['up', '--port', '0', '--http-port', '0', '--duration', '120'], /^ready in \d+ ms$/m, { timeoutMs: 90_000 })
    url = /^console  (http:\/\/\S+)$/m.exec(up.output())![1]!
  } catch (err) {
    console.error('setup failed:', err)
    throw err
  }
})

test.after(async () => {
  await browser?.close()
  if (up) await stopChild(up.proc)
})

upTest('fogmesh up: every agent online, jobs rising, settlements paid on chain with their tx hashes', async () => {
  const page = browser!.page
  await page.goto(url)
  await page.locator('[data-testid="agents-online"] .tile-value', { hasText: /^3$/ }).waitFor({ timeout: 15_000 })
  const ok = async () => Number(await page.locator('[data-testid="jobs-rate"]').getAttribute('data-ok'))
  await waitFor(async () => (await ok()) > 0, 15_000, 'jobs on the page')
  const first = await ok()
  // the page samples the mesh every few seconds; a loaded machine may take more than one sample to move it
  await waitFor(async () => (await ok()) > first, 20_000, 'job count rose')
  // `up` settles every 100 jobs or 5 s: the paid tile moves off zero
  const paid = page.locator('[data-testid="paid"] .tile-value')
  await waitFor(async () => parseFloat(await paid.innerText()) > 0, 40_000, 'a settlement paid on chain')
  await sleep(4000)
  await page.screenshot({ path: screenshotPath('console-up-overview.png') })

  await page.goto(`${url}#/agents`)
  await page.getByRole('button', { name: /^Earned/ }).click()
  await page.locator('.table-box').focus()
  await page.keyboard.press('End') // the one paid most
  await page.keyboard.press('Enter')
  await page.waitForURL(/#\/agent\//)
  const tx = page.locator('tr[data-tx]').first()
  await tx.waitFor({ timeout: 15_000 })
  assert.match(String(await tx.getAttribute('data-tx')), /^0x[0-9a-f]{64}$/)
  assert.ok((await page.locator('.agent-page .small-table tr').count()) > 5)
  await page.screenshot({ path: screenshotPath('console-up-agent.png'), fullPage: true })
  assert.equal(browser!.errors, [])
})

test.run()
