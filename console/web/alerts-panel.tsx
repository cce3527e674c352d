/** The active alerts, as the console server publishes them on `fm/v1/telemetry/alerts`. */
import { ago } from './format.ts'
import type { MeshStore } from './store.ts'

const KIND_LABEL: Record<string, string> = {
  agent_gone: 'agent gone',
  error_rate: 'error rate',
  settlement_failing: 'settlement failing',
  channel_low: 'channel low',
}

export function AlertsPanel({ store, now, limit = 50 }: { store: MeshStore; now: number; limit?: number }) {
  const alerts = store.alerts.slice(0, limit)
  return (
    <section class="alerts" aria-label="alerts" aria-live="polite">
      {alerts.length === 0 ? (
        <p class="all-clear">No alerts</p>
      ) : (
        <ul>
          {alerts.map((a) => (
            <li key={a.id} class={`alert-line ${a.severity}`} data-alert={a.kind} data-subject={a.subject}>
              <span class="alert-kind">{a.severity === 'critical' ? '▲' : '●'} {KIND_LABEL[a.kind] ?? a.kind}</span>
              <span class="alert-msg">{a.message}</span>
              <span class="muted">since {ago(a.since, now)}</span>
              {a.kind === 'agent_gone' || a.kind === 'settlement_failing' ? <a href={`#/agent/${a.subject}`}>open</a> : null}
            </li>
          ))}
        </ul>
      )}
      {store.alerts.length > limit && <p class="muted">and {store.alerts.length - limit} more</p>}
    </section>
  )
}
