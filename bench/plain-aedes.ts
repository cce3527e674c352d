/**
 * Plain aedes as its own process, the broker bench's baseline: aedes' own
 * defaults, one TCP listener on 127.0.0.1 with TCP_NODELAY, nothing else.
 * Prints `ready PORT`.
 *
 *   node --import tsx bench/plain-aedes.ts
 */
import { createServer, type AddressInfo } from 'node:net'
import { Aedes } from 'aedes'

const aedes = await Aedes.createBroker()
const server = createServer({ noDelay: true }, (socket) => {
  socket.setNoDelay(true)
  aedes.handle(socket)
})
server.listen(0, '127.0.0.1', () => console.log(`ready ${(server.address() as AddressInfo).port}`))
process.on('SIGTERM', () => process.exit(0))
