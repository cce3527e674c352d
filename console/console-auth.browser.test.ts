/**
 * The console on a broker with authentication (issue: operators see the whole mesh, with an
 * operator's credentials once the trust work lands). Real Chromium against a real broker whose
 * access rules refuse anonymous clients: the page asks for credentials, a wrong password is
 * refused, a sensor's account connects but may not read the mesh, an operator's sees every agent.
 *   node --import tsx console/console-auth.browser.test.ts
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { startConsole, type ConsoleServer } from './server.ts'
import { browserAvailable, launchBrowser, screenshotPath, type Browser } from '../test/support/browser.ts'
import { testNeeding } from '../test/support/programs.ts'
import { ensureConsoleBuilt } from '../test/support/console-mesh.ts'
import { startSecureMesh, type SecureMesh } from '../test/support/secure-mesh.ts'

let mesh: SecureMesh
let web: ConsoleServer
let browser: Browser | undefined
const denied: string[] = []

test.before(async () => {
  if (!browserAvailable()) return
  ensureConsoleBuilt()
  browser = await launchBrowser()
  mesh = await startSecureMesh({ agents: 2, auth: { anonymous: 'none' } })
  mesh.auth.on('denied', (d) => denied.push(`${d.kind} ${d.name}: ${d.action} ${d.topic}`))
  web = await startConsole({ broker: mesh.broker, port: 0, credentials: { username: 'ops', password: mesh.passwords.ops! } })
})

test.after(async () => {
  await browser?.close()
  await web?.close()
  await mesh?.close()
})

const browserTest = testNeeding(test, 'chromium')
const status = () => browser!.page.locator('[data-testid="connection"]')

async function login(user: string, pass: string): Promise<void> {
  const page = browser!.page
  const form = page.locator('form.login')
  await form.waitFor({ timeout: 15_000 })
  await form.getByLabel('User').fill(user)
  await form.getByLabel('Password').fill(pass)
  await form.getByRole('button', { name: 'Connect' }).click()
}

browserTest('anonymous: refused, and the page asks for an operator\'s credentials', async () => {
  const page = browser!.page
  await page.goto(web.url)
  await page.locator('form.login').waitFor({ timeout: 15_000 })
  await status().filter({ hasText: 'refused' }).waitFor({ timeout: 5000 })
  assert.is(await page.locator('[data-testid="agents-online"] .tile-value').innerText().catch(() => '0'), '0', 'nothing of the mesh shown')
  await page.screenshot({ path: screenshotPath('console-login.png') })
})

browserTest('a wrong password: refused again, the form stays', async () => {
  await login('ops', 'not-the-password')
  await status().filter({ hasText: 'refused' }).waitFor({ timeout: 10_000 })
  assert.ok(await browser!.page.locator('form.login').isVisible(), 'the form is back')
})

browserTest('a sensor\'s account connects but may not read the mesh: its subscription is denied, nothing shown', async () => {
  const page = browser!.page
  await page.goto(`${web.url}?user=s1&pass=${encodeURIComponent(mesh.passwords.s1!)}`)
  await page.locator('[data-testid="disconnected"]', { hasText: 'subscribe refused' }).waitFor({ timeout: 15_000 })
  assert.ok(denied.some((d) => d.startsWith('sensor s1: subscribe fm/v1/agents/+/presence')), denied.join('\n'))
  assert.is(await page.evaluate('fogmesh.store.agents.size'), 0, 'no agent reached the page')
})

browserTest('an operator: live, every agent online', async () => {
  const page = browser!.page
  await page.goto(web.url)
  await login('ops', mesh.passwords.ops!)
  await status().filter({ hasText: 'live' }).waitFor({ timeout: 15_000 })
  await page.locator('[data-testid="agents-online"] .tile-value', { hasText: /^2$/ }).waitFor({ timeout: 15_000 })
  assert.is(await page.locator('form.login').count(), 0, 'the form is gone')
  assert.not.ok(denied.some((d) => d.startsWith('operator ops')), `nothing the operator asked was denied\n${denied.join('\n')}`)
  assert.equal(browser!.errors, [])
})

test.run()
