/**
 * The parts of an aedes `Client` the limits read that aedes' typings do not
 * show (aedes 1.x, lib/client.js): its MQTT parser (mqtt-packet) and the
 * subscriptions it holds. Read here only, so one file says what we rely on.
 */
import type { Duplex } from 'node:stream'
import type { Client } from 'aedes'

/** The mqtt-packet parser state the packet caps look at. */
export interface PacketParser {
  packet: { cmd: string; length: number; retain: boolean }
  /** A BufferList of the bytes not yet parsed. */
  _list: { length: number; get(index: number): number | undefined }
  _parseLength(): boolean
  parse(buf: Buffer): number
}

export interface ClientInternals {
  id: string | null
  clean: boolean
  connected: boolean
  /** A CONNECT is being handled (authentication and the rest), no CONNACK yet. */
  connecting: boolean
  closed: boolean
  conn: Duplex
  subscriptions: Record<string, unknown>
  _parser: PacketParser
}

export const internals = (client: Client): ClientInternals => client as unknown as ClientInternals
