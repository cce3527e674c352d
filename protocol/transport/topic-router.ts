/**
 * MQTT topic filters, and the dispatcher both connections use: one handler
 * per filter, exact topics looked up first, wildcard filters in the order set.
 */
import type { Delivery, Handler } from '../transport.ts'

/** MQTT topic filter matching (`+` one level, `#` the rest), with the filter already split on `/`. */
export function matches(filterParts: string[], topic: string): boolean {
  const t = topic.split('/')
  for (let i = 0; i < filterParts.length; i++) {
    const f = filterParts[i]
    if (f === '#') return true
    if (i >= t.length) return false
    if (f !== '+' && f !== t[i]) return false
  }
  return filterParts.length === t.length
}

/** What a broker matches: as `matches`, and a filter starting with a wildcard never matches a `$` topic. */
export function filterMatchesTopic(filter: string, topic: string): boolean {
  if (topic.startsWith('$') && (filter.startsWith('+') || filter.startsWith('#'))) return false
  return matches(filter.split('/'), topic)
}

/**
 * Dispatches each message to the handler of its filter. A handler that throws
 * (a bug: handlers validate their input) never takes the process down: the
 * error goes to `onError` and the next message is dispatched as usual.
 */
export class TopicRouter {
  private readonly routes: Array<{ filter: string; parts: string[]; handler: Handler }> = []
  private readonly exact = new Map<string, Handler>()

  constructor(private readonly onError: (topic: string, error: unknown) => void = () => {}) {}

  route(filter: string, handler: Handler): void {
    if (filter.includes('+') || filter.includes('#')) {
      this.unroute(filter)
      this.routes.push({ filter, parts: filter.split('/'), handler })
    } else this.exact.set(filter, handler)
  }

  unroute(filter: string): void {
    this.exact.delete(filter)
    const i = this.routes.findIndex((r) => r.filter === filter)
    if (i >= 0) this.routes.splice(i, 1)
  }

  /** Hands the message to its handler; returns false when no filter matched. */
  dispatch(topic: string, payload: Buffer, delivery: Delivery): boolean {
    const handler = this.exact.get(topic) ?? this.routes.find((r) => matches(r.parts, topic))?.handler
    if (!handler) return false
    try {
      handler(topic, payload, delivery)
    } catch (err) {
      this.onError(topic, err)
    }
    return true
  }
}
