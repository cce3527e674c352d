/**
 * `fogmesh flash` on real FAT32 file systems made here (dosfstools' mkfs.vfat, read back
 * with mtools, no mount): a Bookworm-style card (firstrun.sh through cmdline.txt) as a
 * mounted directory and as an image, a Trixie-style card (cloud-init seed files) as a
 * whole-card image with an MBR, every file read back and checked; the scripts parse, and
 * firstboot.sh runs for real as far as this x64 machine lets an arm64 bundle go. Bad input:
 * not a boot partition, not a FAT image, no bundle with Node, half a Wi-Fi.
 */
import { execFileSync, spawnSync } from 'node:child_process'
import { closeSync, openSync, readFileSync, writeFileSync, writeSync, existsSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { assertUserError, runFogmesh, showRun } from '../../test/support/fogmesh-cli.ts'
import { testNeeding } from '../../test/support/programs.ts'
import { fixtureBundle } from '../../test/support/release-fixtures.ts'
import { tmpDir } from '../../test/support/temp-dirs.ts'
import { FIRSTRUN_CMDLINE } from './first-boot.ts'

const t = testNeeding(test, 'mkfs.vfat', 'mcopy', 'mtype', 'mdir')
const CMDLINE = 'console=serial0,115200 console=tty1 root=PARTUUID=4e639091-02 rootfstype=ext4 fsck.repair=yes rootwait quiet init=/usr/lib/raspberrypi-sys-mods/firstboot\n'
const CONFIG = '# For more options and information see\n# http://rptl.io/configtxt\ndtparam=audio=on\ncamera_auto_detect=1\ndisplay_auto_detect=1\narm_64bit=1\n'
const MT = { ...process.env, MTOOLS_SKIP_CHECK: '1' }
const work = tmpDir('fm-flash-')
const key = join(work, 'id_ed25519.pub')
writeFileSync(key, 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBm3X6m0C8Sx2ZQ0V6qQ0p0b5m2oXoQkqzJ8dQ3l1r4u operator@laptop\n')
const arm = fixtureBundle({ version: '0.2.0', arch: 'arm64', withNode: true })
const plainArm = fixtureBundle({ version: '0.2.0', arch: 'arm64' })

/** A FAT32 file system in `file` (at `offsetSectors` behind an MBR when given), with these files on it. */
function fatImage(file: string, files: Record<string, string>, offsetSectors = 0): string {
  if (offsetSectors) {
    execFileSync('truncate', ['-s', '80M', file])
    const mbr = Buffer.alloc(512)
    mbr[0x1be + 4] = 0x0c // W95 FAT32 (LBA), as Raspberry Pi OS images have
    mbr.writeUInt32LE(offsetSectors, 0x1be + 8)
    mbr.writeUInt32LE(131072, 0x1be + 12)
    mbr[510] = 0x55
    mbr[511] = 0xaa
    const fd = openSync(file, 'r+')
    writeSync(fd, mbr, 0, 512, 0)
    closeSync(fd)
    execFileSync('mkfs.vfat', ['-F', '32', '-n', 'BOOTFS', '--offset', String(offsetSectors), file, '65536'], { stdio: 'ignore' })
  } else {
    execFileSync('mkfs.vfat', ['-C', '-F', '32', '-n', 'BOOTFS', file, '65536'], { stdio: 'ignore' })
  }
  const target = offsetSectors ? `${file}@@${offsetSectors * 512}` : file
  for (const [name, content] of Object.entries(files)) {
    const src = join(tmpDir(), name)
    writeFileSync(src, content)
    execFileSync('mcopy', ['-i', target, src, `::/${name}`], { env: MT })
  }
  return target
}

const mtype = (target: string, path: string) => execFileSync('mtype', ['-i', target, `::/${path}`], { env: MT, maxBuffer: 1 << 28 })
const mdir = (target: string, path = '') => execFileSync('mdir', ['-b', '-i', target, `::/${path}`], { env: MT, encoding: 'utf8' }).split('\n').filter(Boolean).map((l) => l.replace(/^::\//, '').replace(/\/$/, '')).sort()

const common = ['--bundle', arm.tarball, '--broker', 'mqtt://192.168.1.10:1883', '--ssh-key', key, '--hostname', 'pi-kitchen', '--labels', 'site=depot-3']
const wifi = ['--wifi-ssid', 'Depot 3 "guest"', '--wifi-psk', 'correct horse battery', '--wifi-country', 'gb']

t('Bookworm card, mounted: firstrun.sh hooked into cmdline.txt once, the fogmesh payload, scripts that parse; firstboot.sh runs', async () => {
  const boot = tmpDir('fm-bootfs-')
  writeFileSync(join(boot, 'cmdline.txt'), CMDLINE)
  writeFileSync(join(boot, 'config.txt'), CONFIG)
  const r = await runFogmesh(['flash', '--boot', boot, ...common, ...wifi, '--release-key', 'ab'.repeat(32)])
  assert.is(r.code, 0, showRun(r))
  assert.match(r.stdout, /first boot by firstrun — no cloud-init seed on the partition \(Raspberry Pi OS Bookworm or earlier: firstrun\.sh\)/)
  const cmd = readFileSync(join(boot, 'cmdline.txt'), 'utf8')
  assert.is(cmd, `${CMDLINE.trim()} ${FIRSTRUN_CMDLINE('/boot/firmware')}\n`)
  const again = await runFogmesh(['flash', '--boot', boot, ...common])
  assert.is(again.code, 0, showRun(again))
  assert.is(readFileSync(join(boot, 'cmdline.txt'), 'utf8'), cmd, 'flashing twice hooks firstrun.sh once')
  assert.is(readFileSync(join(boot, 'config.txt'), 'utf8'), CONFIG, 'config.txt untouched')
  const firstrun = readFileSync(join(boot, 'firstrun.sh'), 'utf8')
  assert.is(spawnSync('bash', ['-n', join(boot, 'firstrun.sh')]).status, 0, 'firstrun.sh parses')
  assert.match(firstrun, /imager_custom set_hostname 'pi-kitchen'/)
  assert.match(firstrun, /imager_custom enable_ssh -k 'ssh-ed25519 AAAA\S+ operator@laptop'/)
  assert.match(firstrun, /userconf-pi\/userconf 'pi' '!'/)
  assert.match(firstrun, /sh \/boot\/firmware\/fogmesh\/firstboot\.sh --no-start/)
  assert.match(firstrun, /sed -i 's\| systemd\.run\.\*\|\|g' \/boot\/firmware\/cmdline\.txt/)
  assert.not.match(firstrun, /set_wlan/, 'the second flash had no Wi-Fi: the file is the second one')
  assert.equal(readFileSync(join(boot, 'fogmesh', arm.file)), arm.bytes)
  const cfg = JSON.parse(readFileSync(join(boot, 'fogmesh/agent.json'), 'utf8')) as Record<string, unknown>
  assert.equal(cfg, { broker: 'mqtt://192.168.1.10:1883', labels: { site: 'depot-3' }, name: 'pi-kitchen' })
  assert.is(spawnSync('sh', ['-n', join(boot, 'fogmesh/firstboot.sh')]).status, 0, 'firstboot.sh parses')
  // firstboot.sh for real: unpacks the bundle from the partition and runs its install.sh, which
  // (on this x64 machine) refuses the arm64 bundle: the wiring works, and it is not marked installed
  const log = join(work, 'firstboot.log')
  const fb = spawnSync('sh', [join(boot, 'fogmesh/firstboot.sh'), '--prefix', join(work, 'opt'), '--systemd', 'no', '--no-start'], { encoding: 'utf8', env: { ...process.env, FOGMESH_FIRSTBOOT_LOG: log } })
  assert.is(fb.status, 1, fb.stdout + fb.stderr)
  assert.match(fb.stdout, /installing fogmesh-0\.2\.0-linux-arm64-node\.tar\.gz/)
  assert.match(fb.stdout, /install\.sh: bundle is for arm64, \S+ is x86_64/)
  assert.not.ok(existsSync(join(boot, 'fogmesh/installed')))
})

t('with Wi-Fi: firstrun.sh sets the network and its country', async () => {
  const boot = tmpDir('fm-bootfs-')
  writeFileSync(join(boot, 'cmdline.txt'), CMDLINE)
  writeFileSync(join(boot, 'config.txt'), CONFIG)
  const r = await runFogmesh(['flash', '--boot', boot, ...common, ...wifi])
  assert.is(r.code, 0, showRun(r))
  const firstrun = readFileSync(join(boot, 'firstrun.sh'), 'utf8')
  assert.match(firstrun, /imager_custom set_wlan 'Depot 3 "guest"' 'correct horse battery'/)
  assert.match(firstrun, /imager_custom set_wlan_country 'GB'/)
  assert.match(firstrun, /^ssid=Depot 3 "guest"$/m)
  assert.is(spawnSync('bash', ['-n', join(boot, 'firstrun.sh')]).status, 0)
})

t('Bookworm card as a FAT32 image (mtools, no mount): every file written is read back equal', async () => {
  const img = fatImage(join(tmpDir(), 'bootfs.img'), { 'cmdline.txt': CMDLINE, 'config.txt': CONFIG })
  const r = await runFogmesh(['flash', '--image', img, ...common, ...wifi])
  assert.is(r.code, 0, showRun(r))
  assert.equal(mdir(img), ['cmdline.txt', 'config.txt', 'firstrun.sh', 'fogmesh', 'ssh'].sort())
  assert.equal(mdir(img, 'fogmesh'), ['fogmesh/agent.json', `fogmesh/${arm.file}`, 'fogmesh/firstboot.sh'].sort())
  assert.equal(mtype(img, `fogmesh/${arm.file}`), arm.bytes)
  assert.is(mtype(img, 'cmdline.txt').toString(), `${CMDLINE.trim()} ${FIRSTRUN_CMDLINE('/boot/firmware')}\n`)
  assert.is(mtype(img, 'config.txt').toString(), CONFIG)
  assert.match(mtype(img, 'firstrun.sh').toString(), /imager_custom set_wlan_country 'GB'/)
  assert.equal(JSON.parse(mtype(img, 'fogmesh/agent.json').toString()), { broker: 'mqtt://192.168.1.10:1883', labels: { site: 'depot-3' }, name: 'pi-kitchen' })
  for (const w of r.stdout.matchAll(/wrote (\S+) \((\d+) bytes\)/g)) assert.is(mtype(img, w[1]!).length, Number(w[2]), `${w[1]} read back at its size`)
})

t('Trixie card as a whole-card image (MBR + FAT32 partition): cloud-init user-data, network-config, meta-data', async () => {
  const file = join(tmpDir(), 'raspios-trixie-arm64-lite.img')
  const img = fatImage(file, { 'cmdline.txt': CMDLINE, 'config.txt': CONFIG, 'user-data': '#cloud-config\n', 'meta-data': 'instance-id: rpios-image\n', 'network-config': 'network:\n  version: 2\n' }, 8192)
  const r = await runFogmesh(['flash', '--image', file, ...common, ...wifi, '--user', 'ops', '--password-hash', '$6$salt$hash'])
  assert.is(r.code, 0, showRun(r))
  assert.match(r.stdout, /\(FAT partition at byte 4194304\): first boot by cloud-init — the image has user-data, meta-data, network-config/)
  const ud = mtype(img, 'user-data').toString()
  assert.ok(ud.startsWith('#cloud-config\n'))
  for (const line of ['hostname: "pi-kitchen"', '  - name: "ops"', '    lock_passwd: false', '    passwd: "$6$salt$hash"', '      - "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBm3X6m0C8Sx2ZQ0V6qQ0p0b5m2oXoQkqzJ8dQ3l1r4u operator@laptop"', 'enable_ssh: true', 'ssh_pwauth: false', '  - [sh, "/boot/firmware/fogmesh/firstboot.sh"]']) {
    assert.ok(ud.split('\n').includes(line), `user-data has ${JSON.stringify(line)}:\n${ud}`)
  }
  const nc = mtype(img, 'network-config').toString()
  for (const line of ['  version: 2', '    wlan0:', '      regulatory-domain: "GB"', '        "Depot 3 \\"guest\\"":', '          password: "correct horse battery"']) assert.ok(nc.split('\n').includes(line), `network-config has ${line}:\n${nc}`)
  assert.match(mtype(img, 'meta-data').toString(), /^instance-id: fogmesh-pi-kitchen-[0-9a-f]{8}\nlocal-hostname: pi-kitchen\n$/)
  assert.is(mtype(img, 'cmdline.txt').toString(), CMDLINE, 'cloud-init needs no cmdline hook')
  assert.not.ok(mdir(img).includes('firstrun.sh'))
  assert.equal(mtype(img, `fogmesh/${arm.file}`), arm.bytes)
})

t('bad input: not a boot partition, not a FAT image, no bundle with Node, half a Wi-Fi, a bad hostname — one line each', async () => {
  const empty = tmpDir('fm-notboot-')
  assertUserError(await runFogmesh(['flash', '--boot', empty, ...common]), new RegExp(`^fogmesh: ${empty} is not a Raspberry Pi OS boot partition \\(no cmdline\\.txt and config\\.txt\\)`), 'not a boot partition', 1)
  const junk = join(tmpDir(), 'junk.img')
  writeFileSync(junk, Buffer.alloc(4096, 7))
  assertUserError(await runFogmesh(['flash', '--image', junk, ...common]), /junk\.img is not a FAT file system or a disk image/, 'not FAT', 1)
  const boot = tmpDir('fm-bootfs-')
  writeFileSync(join(boot, 'cmdline.txt'), CMDLINE)
  writeFileSync(join(boot, 'config.txt'), CONFIG)
  assertUserError(await runFogmesh(['flash', '--boot', boot, ...common.map((a) => (a === arm.tarball ? plainArm.tarball : a))]), /no arm64 bundle with Node among fogmesh-0\.2\.0-linux-arm64 \(Raspberry Pi OS Lite has no Node/, 'no Node in the bundle', 1)
  assertUserError(await runFogmesh(['flash', '--boot', boot, ...common, '--wifi-ssid', 'x']), /Wi-Fi takes --wifi-ssid, --wifi-psk and --wifi-country together/, 'half a Wi-Fi', 2)
  assertUserError(await runFogmesh(['flash', '--boot', boot, ...common, '--hostname', 'pi_kitchen!']), /hostname "pi_kitchen!" is not a host name/, 'bad hostname', 1)
  assertUserError(await runFogmesh(['flash', ...common]), /flash takes --boot DIR \(a mounted boot partition\) or --image FILE/, 'no target', 2)
  assert.not.ok(existsSync(join(boot, 'fogmesh')), 'nothing written on refusal')
})

test.run()
