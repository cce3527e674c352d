/**
 * The console in a real browser (Debian's Chromium, headless, via
 * playwright-core) against a real mesh: broker, console server, gateway, three
 * `fogmesh agent` processes on two sites, a plain-MQTT sensor.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { startBroker } from '../broker/broker.ts'
import { startConsole } from './server.ts'
import { browserAvailable, launchBrowser, screenshotPath, type Browser } from '../test/support/browser.ts'
import { testNeeding } from '../test/support/programs.ts'
import { startConsoleMesh, type ConsoleMesh } from '../test/support/console-mesh.ts'
import { trap } from '../test/fixtures/engine/modules.ts'
import { plainClient } from '../test/support/mqtt-clients.ts'
import { sleep, waitFor } from '../test/support/wait.ts'

let mesh: ConsoleMesh
let browser: Browser | undefined

test.before(async () => {
  if (!browserAvailable()) return
  try {
    browser = await launchBrowser()
    mesh = await startConsoleMesh({ agents: 3, intervalMs: 100 })
  } catch (err) {
    console.error('setup failed:', err) // uvu reports a failed hook only as failed tests
    await browser?.close()
    throw err
  }
})

test.after(async () => {
  await browser?.close()
  await mesh?.close()
})

const browserTest = testNeeding(test, 'chromium')

browserTest('the page shows every agent online and job counts rising', async () => {
  const page = browser!.page
  await page.goto(mesh.web.url)
  await page.locator('[data-testid="connection"]', { hasText: 'live' }).waitFor({ timeout: 10_000 })
  await page.locator('[data-testid="agents-online"] .tile-value', { hasText: /^3$/ }).waitFor({ timeout: 10_000 })
  const jobsNow = async () => Number(await page.locator('[data-testid="jobs-rate"]').getAttribute('data-ok'))
  await waitFor(async () => (await jobsNow()) > 0, 10_000, 'first jobs on the page')
  const first = await jobsNow()
  await sleep(2500)
  const second = await jobsNow()
  assert.ok(second > first, `job count rose: ${first} → ${second}`)
  // the charts have had a few seconds of data
  await sleep(3000)
  await page.screenshot({ path: screenshotPath('console-overview.png') })
  assert.equal(browser!.errors, [])
})

browserTest('the map draws the two sites and every agent, coloured by state', async () => {
  const page = browser!.page
  await page.goto(`${mesh.web.url}#/map`)
  const svg = page.locator('.map svg')
  await svg.waitFor({ timeout: 5000 })
  await waitFor(async () => (await svg.getAttribute('data-agents')) === '3', 5000, 'three agents placed')
  assert.is(await svg.getAttribute('data-sites'), '2')
  assert.is(await page.locator('.map circle.dot.online').count(), 3)
  const labels = await page.locator('.map .site-label').allTextContents()
  assert.ok(labels.some((l) => l.startsWith('depot-3')) && labels.some((l) => l.startsWith('harbour')), labels.join(' | '))
  assert.ok((await page.locator('.map .grid text').count()) >= 4, 'graticule labelled')
  await page.screenshot({ path: screenshotPath('console-map.png') })
})

browserTest('a failing job appears in the feed with its code, found by its id', async () => {
  const page = browser!.page
  const failing = await mesh.gateway.requester.publishModule(trap().bytes)
  await page.goto(`${mesh.web.url}#/jobs`)
  await mesh.submit('broken-sensor-7', failing)
  await page.fill('input[aria-label="search jobs by id"]', 'broken-sensor-7')
  const row = page.locator('tr[data-job^="broken-sensor-7@"]')
  await row.waitFor({ timeout: 10_000 })
  assert.is(await row.getAttribute('data-status'), 'error')
  assert.is(await row.getAttribute('data-code'), 'trap')
  assert.ok((await row.getAttribute('class'))?.includes('error'), 'highlighted')
  assert.match(await row.innerText(), /trap/)
  await page.fill('input[aria-label="search jobs by id"]', '')
  await sleep(500)
  await page.screenshot({ path: screenshotPath('console-jobs.png') })
})

browserTest('the agents table sorts and filters; an agent page shows its jobs and failures', async () => {
  const page = browser!.page
  await page.goto(`${mesh.web.url}#/agents`)
  const rows = page.locator('tbody tr[data-agent]')
  await waitFor(async () => (await rows.count()) === 3, 5000, 'three rows')
  await page.fill('input[aria-label="filter agents"]', 'harbour')
  await waitFor(async () => (await rows.count()) === 1, 3000, 'one agent at the harbour')
  await page.fill('input[aria-label="filter agents"]', '')
  await page.getByRole('button', { name: /^Agent/ }).click() // sort by name
  await waitFor(async () => (await rows.first().innerText()).startsWith('agent-1'), 3000, 'sorted by name')
  // keyboard: sort by jobs (ascending), focus the table, End → the busiest agent, Enter opens it
  await page.getByRole('button', { name: /^Jobs/ }).click()
  await page.locator('.table-box').focus()
  await page.keyboard.press('ArrowDown')
  assert.ok((await page.locator('tbody tr.selected').getAttribute('data-agent')) !== null, 'the selection moved')
  await page.keyboard.press('End')
  await page.keyboard.press('Enter')
  await page.waitForURL(/#\/agent\//)
  const agentPage = page.locator('.agent-page')
  await agentPage.waitFor()
  assert.is(await agentPage.getAttribute('data-state'), 'online')
  await waitFor(async () => (await page.locator('.agent-page .small-table tr').count()) > 3, 5000, 'recent jobs listed').catch(async (e) => {
    console.log(await page.locator('main').innerText())
    throw e
  })
  await page.screenshot({ path: screenshotPath('console-agent.png'), fullPage: true })
})

browserTest('SIGKILL of an agent turns it gone on the page, and raises an alert', async () => {
  const page = browser!.page
  await page.goto(`${mesh.web.url}#/agents`)
  const victim = mesh.agents[2]!
  const row = page.locator(`tr[data-agent="${victim.id}"]`)
  await row.waitFor({ timeout: 5000 })
  assert.is(await row.getAttribute('data-state'), 'online')
  const killed = Date.now()
  await victim.kill('SIGKILL')
  // a generous wait, not a bound: how soon the page shows it is the machine's load as much as ours
  await page.locator(`tr[data-agent="${victim.id}"][data-state="gone"]`).waitFor({ timeout: 20_000 })
  console.log(`gone on the page ${Date.now() - killed} ms after SIGKILL`)
  await page.goto(mesh.web.url)
  await page.locator(`.alert-line[data-alert="agent_gone"][data-subject="${victim.id}"]`).waitFor({ timeout: 5000 })
  await page.locator('[data-testid="agents-gone"] .tile-value', { hasText: /^1$/ }).waitFor({ timeout: 3000 })
  await sleep(1500)
  await page.screenshot({ path: screenshotPath('console-agent-gone.png') })
})

browserTest('garbage on telemetry and presence topics is dropped and counted; the page keeps going', async () => {
  const page = browser!.page
  await page.goto(mesh.web.url)
  await page.locator('[data-testid="connection"]', { hasText: 'live' }).waitFor({ timeout: 5000 })
  const outsider = await plainClient(mesh.broker.url)
  const big = JSON.stringify({ v: 1, source: 'x', ts: Date.now(), dropped: 0, events: Array.from({ length: 600 }, () => ({})) })
  const garbage: Array<[string, string | Buffer]> = [
    ['fm/v1/telemetry/jobs/evil', 'not json'],
    ['fm/v1/telemetry/jobs/evil', Buffer.from([0xff, 0xfe, 0x00, 0x01])],
    ['fm/v1/telemetry/jobs/evil', JSON.stringify({ v: 1, source: 'someone-else', ts: 1, dropped: 0, events: [] })],
    ['fm/v1/telemetry/jobs/x', big],
    ['fm/v1/telemetry/stats/evil', JSON.stringify({ v: 1, source: 'evil', kind: 'gateway', ts: 'soon' })],
    ['fm/v1/telemetry/stats/evil', JSON.stringify({ v: 2 })],
    ['fm/v1/telemetry/agents/evil', JSON.stringify({ v: 1, agent: 'evil', ts: 1, jobs: { ok: -5 } })],
    ['fm/v1/telemetry/settlements/evil', JSON.stringify({ v: 1, agent: 'evil', ts: 1, ok: 'yes' })],
    ['fm/v1/telemetry/alerts', JSON.stringify({ v: 1, source: 'evil', ts: 1, alerts: [{ id: 'x', kind: 'everything_is_fine' }] })],
    ['fm/v1/telemetry/unknown/kind', '{}'],
    ['fm/v1/agents/evil/presence', JSON.stringify({ status: 'online', id: 'not-evil' })],
    ['fm/v1/agents/evil/heartbeat', '[]'],
    ['fm/v1/telemetry/jobs/evil', JSON.stringify({ v: 1, source: 'evil', ts: 1, dropped: 0, events: [{ id: '<script>alert(1)</script>', status: 'ok', latencyMs: 1, durationMs: 1, attempts: 1, fuel: 1, ts: 1 }] })],
  ]
  for (const [topic, payload] of garbage) await outsider.publishAsync(topic, payload)
  await outsider.endAsync()
  const dropped = page.locator('[data-testid="dropped"]')
  await dropped.waitFor({ timeout: 5000 })
  await waitFor(async () => parseInt(await dropped.innerText(), 10) >= garbage.length - 1, 5000, 'every bad message counted')
  // still live: agents online, jobs still counted, alerts from the real server still shown
  const before = Number(await page.locator('[data-testid="jobs-rate"]').getAttribute('data-ok'))
  await sleep(1500)
  const after = Number(await page.locator('[data-testid="jobs-rate"]').getAttribute('data-ok'))
  assert.ok(after > before, `jobs still counted: ${before} → ${after}`)
  assert.is(await page.locator('.alert-line[data-alert="everything_is_fine"]').count(), 0)
  assert.equal(browser!.errors, [], 'no uncaught error in the page')
})

browserTest('the broker goes away: "disconnected" shows; it comes back: the page reconnects by itself', async () => {
  const page = browser!.page
  await page.goto(mesh.web.url)
  await page.locator('[data-testid="connection"]', { hasText: 'live' }).waitFor({ timeout: 5000 })
  const { port, wsPort } = mesh.broker
  const httpPort = mesh.web.port
  mesh.telemetry.stop()
  await mesh.web.close()
  await mesh.broker.close()
  await page.locator('[data-testid="disconnected"]').waitFor({ timeout: 5000 })
  assert.match(await page.locator('[data-testid="connection"]').innerText(), /disconnected|connecting/i)
  await page.screenshot({ path: screenshotPath('console-disconnected.png') })
  // the same ports again: agents, the gateway and the page all find it by themselves
  mesh.broker = await startBroker({ port, wsPort: wsPort ?? 0, host: '127.0.0.1' })
  mesh.web = await startConsole({ broker: mesh.broker, port: httpPort })
  await page.locator('[data-testid="connection"]', { hasText: 'live' }).waitFor({ timeout: 10_000 })
  await page.locator('[data-testid="disconnected"]').waitFor({ state: 'detached', timeout: 5000 })
  await page.locator('[data-testid="agents-online"] .tile-value', { hasText: /^2$/ }).waitFor({ timeout: 10_000 })
})

test.run()
