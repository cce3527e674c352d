/**
 * The entry of a contained gateway (market/gateway-supervisor.ts): runs in a
 * worker thread or a child process, starts the gateway with the options its
 * parent sends, says `ready`, and closes it on `close`. An uncaught exception
 * here ends this thread or process only; the supervisor starts a new one.
 *
 * Messages: parent → `{type:'start', options, link?}` | `{type:'close'}` | `{type:'stats'}`;
 * here → `{type:'ready'}` | `{type:'failed', message}` | `{type:'closed'}` | `{type:'stats', stats}`
 * | `{type:'link', port}` (with `link` in a worker: each connection to the broker, market/gateway-link.ts).
 */
import { parentPort } from 'node:worker_threads'
import { startGateway, type Gateway, type GatewayOptions } from './gateway.ts'
import { portLinkConnector } from './gateway-link.ts'
import { RequesterTelemetry } from './telemetry.ts'

type FromParent = { type: 'start'; options: GatewayOptions; telemetry?: boolean; link?: boolean } | { type: 'close' } | { type: 'stats' }

const post: (m: unknown) => void = parentPort ? (m) => parentPort!.postMessage(m) : (m) => process.send?.(m)
const onMessage = (fn: (m: FromParent) => void) => (parentPort ? parentPort.on('message', fn) : process.on('message', fn as (m: unknown) => void))

let gateway: Gateway | undefined
let telemetry: RequesterTelemetry | undefined
onMessage((m) => {
  if (m.type === 'start') {
    // in a worker with a link: the broker is the parent thread's, reached over MessagePorts
    const options = m.link && parentPort ? { ...m.options, broker: portLinkConnector((msg, transfer) => parentPort!.postMessage(msg, transfer)) } : m.options
    startGateway(options).then(
      (g) => {
        gateway = g
        if (m.telemetry) telemetry = new RequesterTelemetry(g.requester, g.requester.connection, { kind: 'gateway' }).attachGateway(g).start()
        post({ type: 'ready' })
      },
      (err: unknown) => post({ type: 'failed', message: err instanceof Error ? err.message : String(err) }),
    )
  } else if (m.type === 'stats') {
    post({ type: 'stats', stats: gateway?.stats() })
  } else if (m.type === 'close') {
    telemetry?.stop()
    void (gateway?.close() ?? Promise.resolve()).finally(() => {
      post({ type: 'closed' })
      if (!parentPort) process.disconnect?.()
      else parentPort.close()
    })
  }
})
// a child process whose parent went away goes too
if (!parentPort) process.on('disconnect', () => process.exit(0))
