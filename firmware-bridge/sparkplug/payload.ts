/**
 * Sparkplug B payloads: the official protobuf schema (`sparkplug_b.proto`
 * beside this file) through protobufjs, with the metric value put in the
 * oneof field its datatype calls for.
 */
import { readFileSync } from 'node:fs'
import protobuf from 'protobufjs'
import { ErrorCode, FogmeshError } from '../../protocol/errors.ts'

export const DataType = {
  Int8: 1,
  Int16: 2,
  Int32: 3,
  Int64: 4,
  UInt8: 5,
  UInt16: 6,
  UInt32: 7,
  UInt64: 8,
  Float: 9,
  Double: 10,
  Boolean: 11,
  String: 12,
  DateTime: 13,
  Text: 14,
} as const

export type DataTypeName = keyof typeof DataType

export type MetricValue = number | boolean | string | null

export interface Metric {
  name: string
  datatype: number
  value: MetricValue
  /** ms since the epoch: when the value was acquired. */
  timestamp?: number
}

export interface Payload {
  timestamp: number
  seq?: number
  metrics: Metric[]
}

const root = protobuf.parse(readFileSync(new URL('./sparkplug_b.proto', import.meta.url), 'utf8')).root
export const PayloadType = root.lookupType('org.eclipse.tahu.protobuf.Payload')

function valueField(datatype: number, value: Exclude<MetricValue, null>): Record<string, unknown> {
  switch (datatype) {
    case DataType.Int8:
    case DataType.Int16:
    case DataType.Int32:
      // signed types travel as their two's complement in a uint32 (Sparkplug 3.0 §6.4.16)
      return { intValue: Number(value) >>> 0 }
    case DataType.UInt8:
    case DataType.UInt16:
    case DataType.UInt32:
      return { intValue: Number(value) >>> 0 }
    case DataType.Int64:
    case DataType.UInt64:
    case DataType.DateTime:
      return { longValue: Math.trunc(Number(value)) }
    case DataType.Float:
      return { floatValue: Number(value) }
    case DataType.Double:
      return { doubleValue: Number(value) }
    case DataType.Boolean:
      return { booleanValue: value === true || value === 1 || value === 'true' }
    case DataType.String:
    case DataType.Text:
      return { stringValue: String(value) }
    default:
      throw new FogmeshError(ErrorCode.invalidField, `Sparkplug datatype ${datatype} is not supported by the bridge`)
  }
}

export function encodePayload(p: Payload): Uint8Array {
  const msg = PayloadType.fromObject({
    timestamp: p.timestamp,
    ...(p.seq === undefined ? {} : { seq: p.seq }),
    metrics: p.metrics.map((m) => ({
      name: m.name,
      datatype: m.datatype,
      ...(m.timestamp === undefined ? {} : { timestamp: m.timestamp }),
      ...(m.value === null ? { isNull: true } : valueField(m.datatype, m.value)),
    })),
  })
  return PayloadType.encode(msg).finish()
}

interface DecodedMetric {
  name?: string
  alias?: number
  timestamp?: number
  datatype?: number
  isNull?: boolean
  intValue?: number
  longValue?: number
  floatValue?: number
  doubleValue?: number
  booleanValue?: boolean
  stringValue?: string
}

function decodedValue(m: DecodedMetric): MetricValue {
  if (m.isNull) return null
  if (m.intValue !== undefined) {
    // undo the two's complement of the signed types
    if (m.datatype === DataType.Int8) return (m.intValue << 24) >> 24
    if (m.datatype === DataType.Int16) return (m.intValue << 16) >> 16
    if (m.datatype === DataType.Int32) return m.intValue | 0
    return m.intValue
  }
  return m.longValue ?? m.floatValue ?? m.doubleValue ?? m.booleanValue ?? m.stringValue ?? null
}

/** Decodes a payload; throws a FogmeshError (`invalid_field`) on bytes that are not one. */
export function decodePayload(bytes: Uint8Array): Payload & { metrics: Array<Metric & { alias?: number }> } {
  let obj: { timestamp?: number; seq?: number; metrics?: DecodedMetric[] }
  try {
    obj = PayloadType.toObject(PayloadType.decode(bytes), { longs: Number }) as typeof obj
  } catch (err) {
    throw new FogmeshError(ErrorCode.invalidField, `not a Sparkplug B payload: ${(err as Error).message}`, { cause: err })
  }
  return {
    timestamp: obj.timestamp ?? 0,
    ...(obj.seq === undefined ? {} : { seq: obj.seq }),
    metrics: (obj.metrics ?? []).map((m) => ({
      name: m.name ?? '',
      datatype: m.datatype ?? 0,
      value: decodedValue(m),
      ...(m.timestamp === undefined ? {} : { timestamp: m.timestamp }),
      ...(m.alias === undefined ? {} : { alias: m.alias }),
    })),
  }
}
