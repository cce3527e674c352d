/**
 * `fogmesh flash`: prepares a freshly written Raspberry Pi OS boot partition so the Pi
 * joins the mesh at its first power-on (first-boot.ts says how, per OS generation).
 * Writes `fogmesh/` (bundle with Node, agent.json, firstboot.sh) and the OS's first-boot
 * files; returns what it wrote, so the caller can say so.
 */
import { randomBytes } from 'node:crypto'
import { basename } from 'node:path'
import type { CatalogBundle } from '../provision/bundle-catalog.ts'
import type { AgentConfig } from '../provision/provision-host.ts'
import { checkBootPartition, FlashError, type BootPartition } from './boot-partition.ts'
import {
  cloudInitMetaData,
  cloudInitNetworkConfig,
  cloudInitUserData,
  cmdlineWithFirstrun,
  firstbootScript,
  firstrunScript,
  type FirstBootSettings,
  type Wifi,
} from './first-boot.ts'

export type FirstBootMode = 'cloud-init' | 'firstrun'

export interface FlashOptions {
  bundles: CatalogBundle[]
  arch: 'arm64' | 'armv7'
  agent: AgentConfig
  hostname: string
  user: string
  sshKeys: string[]
  passwordHash?: string
  wifi?: Wifi
  /** `auto`: cloud-init when the image carries its seed files (Trixie and later), firstrun otherwise. */
  mode?: FirstBootMode | 'auto'
  bootPath?: string
}

export interface FlashResult {
  mode: FirstBootMode
  /** Why that mode. */
  why: string
  written: { path: string; bytes: number }[]
  bundle: string
}

const CLOUD_INIT_SEED = ['user-data', 'meta-data', 'network-config']

export function detectMode(p: BootPartition): { mode: FirstBootMode; why: string } {
  const seed = CLOUD_INIT_SEED.filter((f) => p.exists(f))
  if (seed.length) return { mode: 'cloud-init', why: `the image has ${seed.join(', ')} (Raspberry Pi OS Trixie or later: cloud-init)` }
  return { mode: 'firstrun', why: 'no cloud-init seed on the partition (Raspberry Pi OS Bookworm or earlier: firstrun.sh)' }
}

export function flashCard(p: BootPartition, o: FlashOptions): FlashResult {
  checkBootPartition(p)
  if (!/^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/.test(o.hostname)) throw new FlashError(`hostname ${JSON.stringify(o.hostname)} is not a host name (letters, digits, inner dashes; 1..63)`)
  if (!/^[a-z_][a-z0-9_-]{0,31}$/.test(o.user)) throw new FlashError(`user ${JSON.stringify(o.user)} is not a Linux user name`)
  if (o.sshKeys.length === 0) throw new FlashError('no SSH public key: give --ssh-key FILE.pub (the Pi is reached by key only)')
  for (const k of o.sshKeys) if (!/^(ssh-(ed25519|rsa)|ecdsa-sha2-nistp\d+|sk-\S+) [A-Za-z0-9+/=]+( .*)?$/.test(k)) throw new FlashError(`not an SSH public key: ${k.slice(0, 40)}…`)
  if (o.wifi && !/^[A-Z]{2}$/.test(o.wifi.country)) throw new FlashError(`--wifi-country takes a two-letter country code such as GB or DE (got ${o.wifi.country})`)
  if (o.wifi && (o.wifi.psk.length < 8 || o.wifi.psk.length > 63)) throw new FlashError('--wifi-psk: a WPA passphrase has 8 to 63 characters')
  const bundle = o.bundles.find((b) => b.info.arch === o.arch && b.info.nodeBundled)
  if (!bundle) {
    const have = o.bundles.map((b) => `${b.info.root}`).join(', ')
    throw new FlashError(`no ${o.arch} bundle with Node among ${have} (Raspberry Pi OS Lite has no Node: make one with fogmesh bundle --arch ${o.arch} --with-node)`)
  }
  const detected = detectMode(p)
  const mode = o.mode && o.mode !== 'auto' ? o.mode : detected.mode
  const why = o.mode && o.mode !== 'auto' ? `asked for (${detected.why.split(' (')[0]})` : detected.why
  const bootPath = o.bootPath ?? '/boot/firmware'
  const file = basename(bundle.file)
  const s: FirstBootSettings = {
    hostname: o.hostname,
    user: o.user,
    sshKeys: o.sshKeys,
    ...(o.passwordHash ? { passwordHash: o.passwordHash } : {}),
    ...(o.wifi ? { wifi: o.wifi } : {}),
    bootPath,
    bundleFile: file,
    bundleRoot: bundle.info.root,
  }
  const written: FlashResult['written'] = []
  const put = (path: string, data: Buffer | string) => {
    p.write(path, data)
    written.push({ path, bytes: Buffer.byteLength(data) })
  }
  put(`fogmesh/${file}`, bundle.bytes)
  put('fogmesh/agent.json', JSON.stringify({ ...o.agent, name: o.agent.name ?? o.hostname }, null, 2) + '\n')
  put('fogmesh/firstboot.sh', firstbootScript(s))
  if (mode === 'cloud-init') {
    put('user-data', cloudInitUserData(s))
    if (o.wifi) put('network-config', cloudInitNetworkConfig(o.wifi))
    put('meta-data', cloudInitMetaData(o.hostname, randomBytes(4).toString('hex')))
  } else {
    put('firstrun.sh', firstrunScript(s))
    const cmdline = p.read('cmdline.txt')!.toString('utf8')
    put('cmdline.txt', cmdlineWithFirstrun(cmdline, bootPath))
    put('ssh', '') // the older images' switch for sshd at boot (harmless on newer ones)
  }
  return { mode, why, written, bundle: file }
}
