/**
 * The bridge's MQTT topics, under its prefix `P` (default `fm/v1/bridge/<name>`):
 *
 *   P/readings/<device>/<sensor>   a reading (serial sensor or debounced GPIO input); QoS 0
 *   P/commands/<actuator>          commands in (a value, {"value"}, or a job/stream result)
 *   P/state/<actuator>             retained: the value the actuator is at, and why
 *   P/events                       refusals, watchdog trips, devices coming and going
 *   P/status                       retained: online/offline (offline is the last will)
 *   P/stats                        counters, every `limits.statsIntervalMs`
 *
 * A device's `topic` and an actuator's `topic` in the config replace
 * `P/readings/<device>` and `P/commands/<actuator>`.
 */
export function bridgeTopics(prefix: string) {
  return {
    readings: (device: string) => `${prefix}/readings/${device}`,
    reading: (base: string, sensor: string) => `${base}/${sensor}`,
    command: (actuator: string) => `${prefix}/commands/${actuator}`,
    state: (actuator: string) => `${prefix}/state/${actuator}`,
    events: `${prefix}/events`,
    status: `${prefix}/status`,
    stats: `${prefix}/stats`,
  }
}
