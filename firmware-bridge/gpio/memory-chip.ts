/**
 * The in-memory GPIO twin: inputs are driven by `drive(line, level)` (a test,
 * a simulator), outputs record every level they were set to.
 */
import { ErrorCode, FogmeshError } from '../../protocol/errors.ts'
import type { Edge, GpioChip, GpioInput, GpioOutput, InputSpec, Level, OutputSpec } from './gpio.ts'

export class MemoryChip implements GpioChip {
  readonly driver = 'memory' as const
  private readonly levels = new Map<number, Level>()
  private readonly watchers = new Map<number, (e: Edge) => void>()
  private readonly outputs = new Map<number, Level[]>()

  constructor(initial: Record<number, Level> = {}) {
    for (const [line, level] of Object.entries(initial)) this.levels.set(Number(line), level)
  }

  /** Sets the physical level of an input line, as the outside world would. */
  drive(line: number, level: Level, timeMs = performance.now()): void {
    if (this.levels.get(line) === level) return
    this.levels.set(line, level)
    this.watchers.get(line)?.({ line, value: level, timeMs })
  }

  /** The level an output was last set to. */
  level(line: number): Level | undefined {
    return this.levels.get(line)
  }

  /** Every level an output line was set to, in order (initial first). */
  history(line: number): Level[] {
    return [...(this.outputs.get(line) ?? [])]
  }

  private claim(line: number): void {
    if (this.watchers.has(line) || this.outputs.has(line)) throw new FogmeshError(ErrorCode.usage, `GPIO line ${line} is already in use`)
  }

  async input(spec: InputSpec, onEdge: (e: Edge) => void): Promise<GpioInput> {
    this.claim(spec.line)
    const invert = (v: Level): Level => (spec.activeLow ? ((1 - v) as Level) : v)
    this.watchers.set(spec.line, (e) => onEdge({ ...e, value: invert(e.value) }))
    const levels = this.levels
    const watchers = this.watchers
    return {
      get value() {
        const raw = levels.get(spec.line)
        return raw === undefined ? undefined : invert(raw)
      },
      async close() {
        watchers.delete(spec.line)
      },
    }
  }

  async output(spec: OutputSpec): Promise<GpioOutput> {
    this.claim(spec.line)
    const physical = (v: Level): Level => (spec.activeLow ? ((1 - v) as Level) : v)
    const history: Level[] = [spec.initial]
    this.outputs.set(spec.line, history)
    this.levels.set(spec.line, physical(spec.initial))
    let value = spec.initial
    const levels = this.levels
    return {
      get value() {
        return value
      },
      async set(v) {
        value = v
        history.push(v)
        levels.set(spec.line, physical(v))
      },
      async close() {},
    }
  }

  async close(): Promise<void> {
    this.watchers.clear()
  }
}
