/** Waits until an agent's retained presence says online on a broker (what `fogmesh status` would show). */
import { presenceSchema } from '../../protocol/messages.ts'
import { topics } from '../../protocol/topics.ts'
import { connect } from '../../protocol/transport.ts'
import { decodeJson } from '../../protocol/validate.ts'
import { ProvisionError, ProvisionReason } from './provision-error.ts'

export async function waitOnline(broker: string, agentId: string, timeoutMs: number, host: string): Promise<void> {
  let conn
  try {
    conn = await connect(broker, { reconnect: false })
  } catch (err) {
    throw new ProvisionError(host, ProvisionReason.notOnline, `installed, but the broker ${broker} cannot be reached from here to see the agent: ${(err as Error).message.split('\n')[0]}`)
  }
  try {
    const topic = topics.presence(agentId)
    let timer: NodeJS.Timeout | undefined
    const online = new Promise<void>((resolve, reject) => {
      timer = setTimeout(() => reject(new ProvisionError(host, ProvisionReason.notOnline, `installed and started, but agent ${agentId} did not show online on ${broker} within ${Math.round(timeoutMs / 1000)} s (check the broker URL the host uses, and the agent's log there)`)), timeoutMs)
      conn.route(topic, (_t, payload) => {
        const d = decodeJson(payload, presenceSchema)
        if (d.ok && d.value.status === 'online') resolve()
      })
    })
    await conn.subscribe(topic, 1)
    await online.finally(() => clearTimeout(timer))
  } finally {
    await conn.close().catch(() => {})
  }
}
