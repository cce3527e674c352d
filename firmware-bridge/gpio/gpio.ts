/**
 * GPIO behind one interface. Three implementations:
 *
 * - `GpiodToolsChip`: the kernel's GPIO character device (`/dev/gpiochipN`,
 *   uAPI v1/v2) through Debian's libgpiod tools (`gpiomon`, `gpioset`,
 *   `gpioget`, package `gpiod`), v1 and v2 CLIs both understood. Needs no
 *   native addon on the device: Node cannot issue the ioctls the character
 *   device needs without one, and the tools are a prebuilt apt package on
 *   every Raspberry Pi OS / Debian architecture;
 * - `SysfsChip`: the deprecated `/sys/class/gpio` interface through `onoff`,
 *   for old kernels where only that exists;
 * - `MemoryChip`: an in-memory twin for tests and dry runs.
 *
 * Values are logical (after `activeLow`): 1 = active.
 */
export type Level = 0 | 1
export type Bias = 'as-is' | 'pull-up' | 'pull-down' | 'disable'

export interface InputSpec {
  line: number
  bias?: Bias
  activeLow?: boolean
}

export interface OutputSpec {
  line: number
  activeLow?: boolean
  initial: Level
}

/** One raw edge as the kernel saw it. `timeMs` is the kernel's timestamp when the driver has one. */
export interface Edge {
  line: number
  value: Level
  timeMs: number
}

export interface GpioInput {
  /** The last level seen (the initial read, then every edge). */
  readonly value: Level | undefined
  close(): Promise<void>
}

export interface GpioOutput {
  readonly value: Level
  set(value: Level): Promise<void>
  close(): Promise<void>
}

export interface GpioChip {
  readonly driver: 'gpiod' | 'sysfs' | 'memory'
  /** Watches a line; `onEdge` gets every raw edge (debounce is the caller's). */
  input(spec: InputSpec, onEdge: (e: Edge) => void, onError?: (e: Error) => void): Promise<GpioInput>
  output(spec: OutputSpec): Promise<GpioOutput>
  close(): Promise<void>
}
