/**
 * What `fogmesh broker` and `fogmesh up` share for operators: the console on
 * its HTTP port (a busy port is a user error naming the option, or — for `up`
 * — a free one instead), and telemetry from the gateway.
 */
import type { Broker } from '../broker/broker.ts'
import type { ConsoleServer } from '../console/server.ts'
import type { Gateway } from '../market/gateway.ts'
import { RequesterTelemetry } from '../market/telemetry.ts'
import type { AlertOptions } from '../console/alerts.ts'
import type { ClientCredentials } from '../protocol/transport.ts'
import { UsageError } from './command.ts'

export async function consoleOnPort(
  broker: Broker,
  port: number,
  host: string,
  opts: { fallback?: boolean; alerts?: AlertOptions; credentials?: ClientCredentials } = {},
): Promise<{ console: ConsoleServer; note?: string }> {
  // loaded when a command serves the console: every other fogmesh command starts without prom-client and the rest
  const { startConsole } = await import('../console/server.ts')
  try {
    return { console: await startConsole({ broker, port, host, ...(opts.alerts ? { alerts: opts.alerts } : {}), ...(opts.credentials ? { credentials: opts.credentials } : {}) }) }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE' || port === 0) throw err
    if (!opts.fallback) throw new UsageError(`port ${port} is in use (--http-port): choose another or 0 for any free port`)
    const c = await startConsole({ broker, port: 0, host, ...(opts.alerts ? { alerts: opts.alerts } : {}), ...(opts.credentials ? { credentials: opts.credentials } : {}) })
    return { console: c, note: `http port ${port} is taken; using ${c.port}` }
  }
}

/** The gateway's job events and rolling stats on `fm/v1/telemetry/`, on its own connection. */
export function gatewayTelemetry(gateway: Gateway, site?: string): RequesterTelemetry {
  return new RequesterTelemetry(gateway.requester, gateway.requester.connection, { kind: 'gateway', ...(site !== undefined ? { site } : {}) })
    .attachGateway(gateway)
    .start()
}

/** The `console  http://HOST:PORT/` line: its own line, so scripts can find it. */
export const consoleLine = (c: ConsoleServer) => `console  ${c.url}`

/** Said on stderr when the page was not built at install. */
export const notBuiltWarning = 'console: the page is not built (npm run build:console); /metrics works'
