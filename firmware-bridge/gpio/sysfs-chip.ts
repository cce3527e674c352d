/**
 * GPIO through the deprecated sysfs interface (`/sys/class/gpio`), via
 * `onoff`. For kernels and boards where the character device is missing
 * (very old kernels; some vendor BSPs). sysfs numbers lines globally: a line
 * is `base + offset`, where `base` is read from
 * `/sys/class/gpio/<chip>/base` when `chip` names a sysfs chip
 * (`gpiochip512` on Raspberry Pi OS kernels >= 6.6), else 0.
 *
 * `onoff` is an optional dependency (it builds the `epoll` addon on install);
 * this driver says so when it is missing.
 */
import { readFileSync } from 'node:fs'
import { ErrorCode, FogmeshError } from '../../protocol/errors.ts'
import type { Edge, GpioChip, GpioInput, GpioOutput, InputSpec, Level, OutputSpec } from './gpio.ts'

type OnoffGpio = import('onoff').Gpio

export class SysfsChip implements GpioChip {
  readonly driver = 'sysfs' as const
  private readonly lines: OnoffGpio[] = []

  private constructor(private readonly Gpio: typeof import('onoff').Gpio, private readonly base: number) {}

  static async open(chip: string | undefined): Promise<SysfsChip> {
    let mod: typeof import('onoff')
    try {
      mod = await import('onoff')
    } catch (err) {
      throw new FogmeshError(ErrorCode.usage, 'the sysfs GPIO driver needs the optional package onoff (npm install onoff)', { cause: err })
    }
    const Gpio = mod.Gpio ?? (mod as unknown as { default: typeof import('onoff') }).default.Gpio
    if (!Gpio.accessible) throw new FogmeshError(ErrorCode.usage, '/sys/class/gpio is not available on this kernel (use gpio.driver "gpiod")')
    let base = 0
    if (chip) {
      try {
        base = Number(readFileSync(`/sys/class/gpio/${chip}/base`, 'utf8').trim())
      } catch (err) {
        throw new FogmeshError(ErrorCode.usage, `no sysfs GPIO chip ${chip} (see /sys/class/gpio)`, { cause: err })
      }
    }
    return new SysfsChip(Gpio, base)
  }

  async input(spec: InputSpec, onEdge: (e: Edge) => void, onError: (e: Error) => void = () => {}): Promise<GpioInput> {
    if (spec.bias && spec.bias !== 'as-is') throw new FogmeshError(ErrorCode.usage, `sysfs GPIO cannot set bias (line ${spec.line}); use the gpiod driver or the device tree`)
    const g = new this.Gpio(this.base + spec.line, 'in', 'both', { activeLow: spec.activeLow === true })
    this.lines.push(g)
    let value: Level = g.readSync()
    g.watch((err, v) => {
      if (err) return onError(err)
      value = v
      onEdge({ line: spec.line, value: v, timeMs: performance.now() })
    })
    return {
      get value() {
        return value
      },
      close: async () => {
        g.unwatchAll()
        g.unexport()
      },
    }
  }

  async output(spec: OutputSpec): Promise<GpioOutput> {
    // direction "high"/"low" sets the raw (physical) level glitch-free as the line turns output
    const physical = spec.activeLow ? 1 - spec.initial : spec.initial
    const g = new this.Gpio(this.base + spec.line, physical ? 'high' : 'low', 'none', { activeLow: spec.activeLow === true })
    this.lines.push(g)
    let value = spec.initial
    return {
      get value() {
        return value
      },
      set: async (v) => {
        await g.write(v)
        value = v
      },
      close: async () => g.unexport(),
    }
  }

  async close(): Promise<void> {
    for (const g of this.lines.splice(0)) {
      try {
        g.unwatchAll()
        g.unexport()
      } catch {
        // already unexported
      }
    }
  }
}
