/** The embedded broker as tests use it: loopback, MQTT and WebSocket on ports the OS picks. */
import { startBroker, type Broker, type BrokerOptions } from '../../broker/broker.ts'

export function testBroker(options: BrokerOptions = {}): Promise<Broker> {
  return startBroker({ port: 0, wsPort: 0, host: '127.0.0.1', ...options })
}
