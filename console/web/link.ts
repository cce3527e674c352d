/**
 * The page's one connection: MQTT 3.1.1 over WebSocket to the broker, read
 * only (it subscribes, never publishes). mqtt.js reconnects by itself every
 * second; a broker that refuses the credentials stops it and asks for others.
 */
import mqtt from 'mqtt'

export type LinkStatus = 'connecting' | 'connected' | 'disconnected' | 'unauthorized'

/**
 * What the page reads, in two steps: first the agents' presence (retained state the broker sends
 * once, right after the SUBACK), and only once that is acknowledged the streams (heartbeats, the
 * job feed, rollups), so that the retained presences are not queued behind a thousand live
 * messages a second. QoS 0 throughout: the page only reads, and the broker's slow-subscriber drop
 * (`slowSubscriberBytes`, 8 MiB unsent) cannot bite on the ~1 KB per agent sent before the streams.
 */
export const STATE_SUBSCRIPTIONS: Record<string, { qos: 0 }> = { 'fm/v1/agents/+/presence': { qos: 0 } }
export const STREAM_SUBSCRIPTIONS: Record<string, { qos: 0 }> = { 'fm/v1/agents/+/heartbeat': { qos: 0 }, 'fm/v1/telemetry/#': { qos: 0 } }

export interface LinkOptions {
  url: string
  username?: string | undefined
  password?: string | undefined
  onMessage(topic: string, payload: Uint8Array): void
  onStatus(status: LinkStatus, detail?: string): void
}

export interface Link {
  close(): void
}

export function openLink(o: LinkOptions): Link {
  const client = mqtt.connect(o.url, {
    protocolVersion: 4,
    clean: true,
    keepalive: 10,
    connectTimeout: 4000,
    reconnectPeriod: 1000,
    clientId: `fm-console-web-${Math.random().toString(16).slice(2, 10)}`,
    ...(o.username ? { username: o.username } : {}),
    ...(o.password ? { password: o.password } : {}),
  })
  o.onStatus('connecting')
  client.on('connect', () => {
    client.subscribe(STATE_SUBSCRIPTIONS, (err) => {
      if (err) return o.onStatus('disconnected', `subscribe refused: ${err.message}`)
      client.subscribe(STREAM_SUBSCRIPTIONS, (err2) => {
        if (err2) o.onStatus('disconnected', `subscribe refused: ${err2.message}`)
        else o.onStatus('connected')
      })
    })
  })
  client.on('message', (topic, payload) => o.onMessage(topic, payload))
  client.on('offline', () => o.onStatus('disconnected'))
  client.on('close', () => {
    if (!refused) o.onStatus('disconnected')
  })
  client.on('reconnect', () => o.onStatus('connecting'))
  let refused = false
  client.on('error', (err: Error & { code?: number }) => {
    // CONNACK 4: bad user name or password; 5: not authorized
    if (err.code === 4 || err.code === 5) {
      refused = true
      client.end(true)
      o.onStatus('unauthorized', err.message)
    }
  })
  return { close: () => client.end(true) }
}
