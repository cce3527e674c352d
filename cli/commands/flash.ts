import { readFileSync } from 'node:fs'
import { loadBundles } from '../../fleet/provision/bundle-catalog.ts'
import { DirPartition } from '../../fleet/flash/dir-partition.ts'
import { FatImage } from '../../fleet/flash/fat-image.ts'
import { flashCard } from '../../fleet/flash/flash-card.ts'
import { parseTrustedKey } from '../../fleet/release/release-key.ts'
import { labelsOption, requireString, UsageError, type Command } from '../command.ts'

export const flashCommand: Command = {
  name: 'flash',
  summary: 'prepares a freshly written Raspberry Pi OS card so the Pi joins the mesh at first power-on',
  usage: `usage: fogmesh flash --boot DIR | --image FILE --bundle FILE|DIR --broker URL --ssh-key FILE.pub [options]

  --boot DIR        the card's boot partition, mounted (bootfs: /media/$USER/bootfs, /Volumes/bootfs, D:\\)
  --image FILE      or a Raspberry Pi OS image file (whole card .img or the FAT partition), written with mtools
  --bundle FILE|DIR a bundle made with --with-node for the Pi's arch (Raspberry Pi OS Lite has no Node)
  --arch A          arm64 (default: Pi 3, 4, 5, Zero 2 W on 64-bit OS) or armv7 (32-bit OS)
  --broker URL      the broker the agent uses
  --hostname H      the Pi's host name (default fogmesh-pi); also the agent's name unless --name
  --user U          the login user (default pi), reached with:
  --ssh-key FILE    an SSH public key (several: FILE1,FILE2)
  --password-hash H a crypt hash for the user (openssl passwd -6); default: no password login
  --wifi-ssid S --wifi-psk P --wifi-country CC   Wi-Fi (CC: two letters, e.g. GB; Wi-Fi stays off without it)
  --name N --labels k=v,...  the agent's name and labels
  --release-key K [--channel C]  the agent follows OTA releases signed by K
  --mode M          auto (default: cloud-init on Trixie images, which carry user-data; firstrun.sh on Bookworm), cloud-init, firstrun
  --boot-path P     where the partition is mounted on the Pi (default /boot/firmware; /boot on Bullseye)`,
  options: {
    boot: { type: 'string' },
    image: { type: 'string' },
    bundle: { type: 'string' },
    arch: { type: 'string' },
    broker: { type: 'string' },
    hostname: { type: 'string' },
    user: { type: 'string' },
    'ssh-key': { type: 'string' },
    'password-hash': { type: 'string' },
    'wifi-ssid': { type: 'string' },
    'wifi-psk': { type: 'string' },
    'wifi-country': { type: 'string' },
    name: { type: 'string' },
    labels: { type: 'string' },
    'release-key': { type: 'string' },
    channel: { type: 'string' },
    mode: { type: 'string' },
    'boot-path': { type: 'string' },
  },
  async run(values) {
    const boot = values.boot
    const image = values.image
    if ((boot === undefined) === (image === undefined)) throw new UsageError('flash takes --boot DIR (a mounted boot partition) or --image FILE, one of them')
    const broker = requireString(values, 'broker', 'the MQTT broker URL the Pi uses, e.g. mqtt://192.168.1.10:1883')
    const bundlePath = requireString(values, 'bundle', 'a bundle made with fogmesh bundle --arch arm64 --with-node')
    const keyFiles = requireString(values, 'ssh-key', 'an SSH public key file (e.g. ~/.ssh/id_ed25519.pub): the Pi is reached by key')
    const arch = (values.arch ?? 'arm64') as string
    if (arch !== 'arm64' && arch !== 'armv7') throw new UsageError('--arch is arm64 or armv7')
    const mode = (values.mode ?? 'auto') as string
    if (!['auto', 'cloud-init', 'firstrun'].includes(mode)) throw new UsageError('--mode is auto, cloud-init or firstrun')
    const ssid = values['wifi-ssid']
    const psk = values['wifi-psk']
    const country = values['wifi-country']
    if ((ssid === undefined) !== (psk === undefined) || (ssid !== undefined && country === undefined)) throw new UsageError('Wi-Fi takes --wifi-ssid, --wifi-psk and --wifi-country together')
    const sshKeys = String(keyFiles).split(',').map((f) => {
      try {
        return readFileSync(f, 'utf8').trim()
      } catch (err) {
        throw new UsageError(`--ssh-key ${f}: ${(err as NodeJS.ErrnoException).code ?? 'unreadable'}`)
      }
    })
    const partition = typeof boot === 'string' ? new DirPartition(boot) : new FatImage(String(image))
    const releaseKey = typeof values['release-key'] === 'string' ? values['release-key'].split(',').map(parseTrustedKey).join(',') : undefined
    const hostname = typeof values.hostname === 'string' ? values.hostname : 'fogmesh-pi'
    const r = flashCard(partition, {
      bundles: loadBundles(bundlePath.split(',')),
      arch,
      agent: {
        broker,
        ...(typeof values.name === 'string' ? { name: values.name } : {}),
        labels: labelsOption(values.labels),
        ...(releaseKey ? { releaseKey, channel: typeof values.channel === 'string' ? values.channel : 'stable' } : {}),
      },
      hostname,
      user: typeof values.user === 'string' ? values.user : 'pi',
      sshKeys,
      ...(typeof values['password-hash'] === 'string' ? { passwordHash: values['password-hash'] } : {}),
      ...(ssid !== undefined ? { wifi: { ssid: String(ssid), psk: String(psk), country: String(country).toUpperCase() } } : {}),
      mode: mode as 'auto' | 'cloud-init' | 'firstrun',
      ...(typeof values['boot-path'] === 'string' ? { bootPath: values['boot-path'] } : {}),
    })
    console.log(`${partition.describe}: first boot by ${r.mode} — ${r.why}`)
    for (const w of r.written) console.log(`  wrote ${w.path} (${w.bytes} bytes)`)
    console.log(`put the card in the Pi and power it on: it installs ${r.bundle} and joins ${broker} as "${hostname}"`)
    return 0
  },
}
