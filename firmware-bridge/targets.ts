/**
 * Actuator targets: how a guarded value reaches a GPIO line or a serial device.
 */
import { ErrorCode, FogmeshError } from '../protocol/errors.ts'
import type { ActuatorTarget } from './actuation/actuator.ts'
import type { GpioOutput } from './gpio/gpio.ts'
import type { Value } from './serial/protocol.ts'
import type { SerialDevice } from './serial/serial-device.ts'

export function gpioTarget(output: () => GpioOutput | undefined): ActuatorTarget {
  return {
    async apply(value: Value) {
      const out = output()
      if (!out) throw new FogmeshError(ErrorCode.closed, 'GPIO output is not open')
      await out.set(value === true || value === 1 ? 1 : 0)
    },
  }
}

export interface SerialTargetSpec {
  /** A text command (`RELAY {value}`) for line devices; without it, a json-lines `set` request. */
  text?: string
  /** With `text`: the reply that confirms it (a regular expression); without, the command is sent unconfirmed. */
  expect?: string
  /** The actuator's name on the device (json-lines `set`). */
  name: string
}

export function serialTarget(device: SerialDevice, spec: SerialTargetSpec): ActuatorTarget {
  const expect = spec.expect === undefined ? undefined : new RegExp(spec.expect)
  return {
    async apply(value: Value) {
      if (spec.text !== undefined) {
        const text = spec.text.replaceAll('{value}', String(value))
        if (expect) await device.requestText(text, expect)
        else await device.send(text)
        return
      }
      await device.request('set', { name: spec.name, v: value })
    },
  }
}
