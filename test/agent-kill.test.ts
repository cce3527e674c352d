/**
 * An agent killed in the middle of a job costs that job a retry, not its
 * answer: the broker fires the killed agent's last will, the requester sees
 * it gone and assigns the job to another agent at once.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { startGateway } from '../market/gateway.ts'
import { slowDone } from './fixtures/engine/modules.ts'
import { spawnAgent } from './support/agents.ts'
import { collect, plainClient } from './support/mqtt-clients.ts'
import { testBroker } from './support/test-broker.ts'
import { waitFor } from './support/wait.ts'

// ~1 s of work (metered), then "done" on stdout
const slow = () => slowDone(1_500_000_000)

test('SIGKILL of the agent running a job: the job is retried elsewhere and answered once', async () => {
  const broker = await testBroker()
  const a1 = await spawnAgent(broker.url, 'victim-1', ['--slots', '1'])
  const a2 = await spawnAgent(broker.url, 'victim-2', ['--slots', '1'])
  const gateway = await startGateway({ broker: broker.url })
  try {
    await gateway.requester.directory.waitFor(2, 5000)
    const module = await gateway.requester.publishModule(slow().bytes)
    const spy = await plainClient(broker.url)
    const assigns = collect(spy)
    await spy.subscribeAsync('fm/v1/agents/+/jobs')
    const sensor = await plainClient(broker.url)
    const replies = collect(sensor)
    await sensor.subscribeAsync('kill/replies', { qos: 1 })
    await sensor.publishAsync('fm/v1/jobs/submit', JSON.stringify({ id: 'survivor', module, input: '', replyTo: 'kill/replies', limits: { timeoutMs: 20_000, fuel: 100_000_000_000 } }))
    await waitFor(() => assigns.length > 0, 5000, 'the assignment')
    const first = assigns[0]!.topic.split('/')[3]
    const victim = [a1, a2].find((a) => a.id === first)!
    const other = [a1, a2].find((a) => a.id !== first)!
    await new Promise((r) => setTimeout(r, 300)) // mid-job
    await victim.kill('SIGKILL')
    await waitFor(() => replies.length > 0, 30_000, "the answer")
    await new Promise((r) => setTimeout(r, 300))
    assert.is(replies.length, 1, 'answered once')
    const r = JSON.parse(replies[0]!.payload.toString())
    assert.is(r.status, 'ok', JSON.stringify(r))
    assert.is(Buffer.from(r.output, 'base64').toString(), 'done')
    assert.is(r.agent, other.id)
    assert.is(r.attempts, 2)
    assert.is(assigns.length, 2)
    await spy.endAsync()
    await sensor.endAsync()
  } finally {
    await gateway.close()
    await a1.kill()
    await a2.kill()
    await broker.close()
  }
})

test.run()
