/**
 * Runs the simulated microcontroller (`mcu.ts`) as a child process and talks
 * to it: commands on its stdin, its JSON reports collected from stdout.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'

export interface McuProcess {
  readonly proc: ChildProcess
  readonly reports: Array<Record<string, unknown>>
  send(command: string): void
  waitFor(pred: (r: Record<string, unknown>) => boolean, timeoutMs?: number, what?: string): Promise<Record<string, unknown>>
  stop(): Promise<void>
}

const SCRIPT = fileURLToPath(new URL('./mcu.ts', import.meta.url))

export function startMcu(port: string, options: { intervalMs?: number } = {}): McuProcess {
  const proc = spawn(process.execPath, ['--import', 'tsx', SCRIPT, '--port', port, '--interval', String(options.intervalMs ?? 100)], {
    stdio: ['pipe', 'pipe', 'inherit'],
  })
  const reports: Array<Record<string, unknown>> = []
  let buf = ''
  proc.stdout?.on('data', (d) => {
    buf += d
    let nl: number
    while ((nl = buf.indexOf('\n')) >= 0) {
      try {
        reports.push(JSON.parse(buf.slice(0, nl)))
      } catch {
        // not a report
      }
      buf = buf.slice(nl + 1)
    }
  })
  return {
    proc,
    reports,
    send: (c) => void proc.stdin?.write(c + '\n'),
    async waitFor(pred, timeoutMs = 10_000, what = 'a report from the simulated MCU') {
      const until = Date.now() + timeoutMs
      for (;;) {
        const r = reports.find(pred)
        if (r) return r
        if (proc.exitCode !== null) throw new Error(`simulated MCU exited (${proc.exitCode}) while waiting for ${what}`)
        if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
        await new Promise((r) => setTimeout(r, 10))
      }
    },
    async stop() {
      if (proc.exitCode !== null) return
      await new Promise<void>((resolve) => {
        proc.once('exit', () => resolve())
        proc.stdin?.write('quit\n')
        setTimeout(() => proc.kill('SIGKILL'), 2000).unref()
      })
    },
  }
}
