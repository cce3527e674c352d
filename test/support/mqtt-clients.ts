/** Plain MQTT clients, the way a sensor or a script connects, and a collector for what they receive. */
import mqtt, { type MqttClient } from 'mqtt'

export interface PlainClientOptions extends mqtt.IClientOptions {
  /**
   * Turn Nagle off on the socket (default true; the mesh's own clients do that in
   * protocol/transport.ts, mqtt.js leaves it on).
   */
  noDelay?: boolean
}

/** A plain mqtt.js client: MQTT 3.1.1, clean session, no reconnects. */
export async function plainClient(url: string, opts: PlainClientOptions = {}): Promise<MqttClient> {
  const { noDelay = true, ...options } = opts
  const c = await mqtt.connectAsync(url, { protocolVersion: 4, reconnectPeriod: 0, clean: true, ...options })
  if (noDelay) (c.stream as { setNoDelay?: (on: boolean) => void }).setNoDelay?.(true)
  return c
}

/** Ends a client at once, ignoring errors (for clean-up paths). */
export const closeClient = (c: MqttClient) => c.endAsync(true).catch(() => {})

export interface Received {
  topic: string
  payload: Buffer
  retain: boolean
}

/** Every message `client` receives from now on, in order. */
export function collect(client: MqttClient): Received[] {
  const got: Received[] = []
  client.on('message', (topic, payload, packet) => got.push({ topic, payload, retain: packet.retain }))
  return got
}
