/**
 * How a benchmark reports: a header naming the machine, progress on stderr (so
 * that stdout stays the report), plain text tables, and `TARGET ... PASS/FAIL` lines.
 */
import { availableParallelism, cpus } from 'node:os'

export function header(title: string, what: string[]): void {
  const cpu = cpus()[0]?.model ?? 'unknown cpu'
  console.log(`== ${title} ==`)
  console.log(`node ${process.versions.node}, ${availableParallelism()} cpus (${cpu.trim()}), ${new Date().toISOString()}`)
  for (const l of what) console.log(l)
  console.log('')
}

/** Progress on stderr, so stdout stays the report. */
export const progress = (msg: string) => process.stderr.write(`  .. ${msg}\n`)

/** A plain text table: first row is the header. */
export function table(rows: string[][]): string {
  const widths: number[] = []
  for (const r of rows) r.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, c.length)))
  const line = (r: string[]) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join('  ')
  const out = [line(rows[0] ?? []), widths.map((w) => '-'.repeat(w)).join('  ')]
  for (const r of rows.slice(1)) out.push(line(r))
  return out.join('\n')
}

export function target(label: string, value: string, pass: boolean): boolean {
  console.log(`TARGET ${label}: ${value}  ${pass ? 'PASS' : 'FAIL'}`)
  return pass
}
