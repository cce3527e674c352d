/**
 * The entry of a contained gateway (market/gateway-supervisor.ts): runs in a
 * worker thread or a child process, starts the gateway with the options its
 * parent sends, says `ready`, and closes it on `close`. An uncaught exception
 * here ends this thread or process only; the supervisor starts a new one.
 *
 * Messages: parent → `{type:'start', options}` | `{type:'close'}` | `{type:'stats'}`;
 * here → `{type:'ready'}` | `{type:'failed', message}` | `{type:'closed'}` | `{type:'stats', stats}`.
 */
import { parentPort } from 'node:worker_threads'
import { startGateway, type Gateway, type GatewayOptions } from './gateway.ts'
import { RequesterTelemetry } from './telemetry.ts'

type FromParent = { type: 'start'; options: GatewayOptions; telemetry?: boolean } | { type: 'close' } | { type: 'stats' }

const post: (m: unknown) => void = parentPort ? (m) => parentPort!.postMessage(m) : (m) => process.send?.(m)
const onMessage = (fn: (m: FromParent) => void) => (parentPort ? parentPort.on('message', fn) : process.on('message', fn as (m: unknown) => void))

let gateway: Gateway | undefined
let telemetry: RequesterTelemetry | undefined
onMessage((m) => {
  if (m.type === 'start') {
    startGateway(m.options).then(
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
