/**
 * A plain MQTT echo responder as its own OS process, for the raw baseline in
 * the agents' layout (requester in the bench process, responder in another):
 * everything published on REQ_TOPIC is published back on RES_TOPIC at QOS (default 0).
 *
 *   node --import tsx bench/echo-responder.ts mqtt://127.0.0.1:PORT REQ_TOPIC RES_TOPIC [QOS]
 */
import { startEchoResponder } from './raw-request-response.ts'

const [url, req, res, qos] = process.argv.slice(2)
if (!url || !req || !res) {
  console.error('usage: echo-responder.ts URL REQ_TOPIC RES_TOPIC [QOS]')
  process.exit(2)
}
await startEchoResponder(url, req, res, true, qos === '1' ? 1 : 0)
console.log('ready')
process.on('SIGTERM', () => process.exit(0))
