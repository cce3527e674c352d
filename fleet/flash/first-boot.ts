/**
 * What a Raspberry Pi OS card runs at its first power-on, as files for its boot partition.
 *
 * Two mechanisms, for two generations of images:
 * - `cloud-init` — Raspberry Pi OS based on Debian 13 "Trixie" (images from 2025-10-02 on) ships
 *   cloud-init with the NoCloud seed on the boot partition: `user-data` (users, SSH keys,
 *   hostname, `runcmd`), `network-config` (netplan v2: Wi-Fi with its regulatory domain) and
 *   `meta-data` (the instance id). Such an image has these three files when freshly written.
 * - `firstrun` — Raspberry Pi OS based on Debian 12 "Bookworm" (2023-10 to 2025-09; Bullseye before
 *   it, with the partition at /boot): what Raspberry Pi Imager writes, `firstrun.sh` run once by
 *   systemd from the kernel command line (`systemd.run=`, then reboot), using the OS's own
 *   helpers (raspberrypi-sys-mods' imager_custom, userconf-pi) where they exist.
 *   (`custom.toml`, read by raspberrypi-sys-mods' firstboot on Bookworm, sets hostname, user,
 *   SSH and Wi-Fi but runs no script, so it cannot install an agent: not used.)
 *
 * Either way the agent comes from `fogmesh/` on the same partition: the bundle (with Node:
 * Raspberry Pi OS Lite has none), its config, and `fogmesh/firstboot.sh`, which installs it once.
 */
export interface Wifi {
  ssid: string
  psk: string
  /** ISO 3166 two-letter country (the regulatory domain): Wi-Fi stays off on Raspberry Pi OS until it is set. */
  country: string
  hidden?: boolean
}

export interface FirstBootSettings {
  hostname: string
  /** The login user (created or renamed from the image's default), with these SSH keys. */
  user: string
  sshKeys: string[]
  /** A crypt(3) hash (`openssl passwd -6`) for the user; none: password login locked. */
  passwordHash?: string
  wifi?: Wifi
  /** Where the partition is mounted on the Pi: /boot/firmware (Bookworm and later) or /boot. */
  bootPath: string
  /** The bundle's file name under fogmesh/, and its top directory. */
  bundleFile: string
  bundleRoot: string
}

const sq = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`
const yq = (s: string) => JSON.stringify(s) // a JSON string is a YAML flow scalar

/** fogmesh/firstboot.sh: unpacks the bundle from the partition and runs its install.sh once; extra arguments go to install.sh. */
export function firstbootScript(s: FirstBootSettings): string {
  return `#!/bin/sh
# Written by fogmesh flash: installs the fogmesh agent from this boot partition, once.
# Extra arguments go to install.sh (firstrun.sh passes --no-start: the reboot after it starts the agent).
set -u
here=$(cd "$(dirname "$0")" && pwd)
[ -f "$here/installed" ] && { echo "fogmesh: already installed from $here"; exit 0; }
log=\${FOGMESH_FIRSTBOOT_LOG:-/var/log/fogmesh-firstboot.log}
mkdir -p "$(dirname "$log")" 2>/dev/null
work=$(mktemp -d /tmp/fogmesh-firstboot.XXXXXX) || exit 1
echo "fogmesh firstboot $(date -u +%Y-%m-%dT%H:%M:%SZ): installing ${s.bundleFile}" >>"$log"
rc=0
{ tar -xzf "$here/${s.bundleFile}" -C "$work" && "$work/${s.bundleRoot}/install.sh" --config "$here/agent.json" "$@"; } >>"$log" 2>&1 || rc=$?
rm -rf "$work"
tail -n 40 "$log"
[ $rc = 0 ] && date -u +%Y-%m-%dT%H:%M:%SZ > "$here/installed"
exit $rc
`
}

/** firstrun.sh for Bookworm images (and Bullseye), in the shape Raspberry Pi Imager writes. */
export function firstrunScript(s: FirstBootSettings): string {
  const b = s.bootPath
  const keys = s.sshKeys.map(sq).join(' ')
  const lines = [
    '#!/bin/bash',
    '# Written by fogmesh flash: run once at first boot (systemd.run= in cmdline.txt), then removed.',
    'set +e',
    '',
    '# hostname',
    'CURRENT_HOSTNAME=$(tr -d " \\t\\n\\r" < /etc/hostname)',
    'if [ -f /usr/lib/raspberrypi-sys-mods/imager_custom ]; then',
    `  /usr/lib/raspberrypi-sys-mods/imager_custom set_hostname ${sq(s.hostname)}`,
    'else',
    `  echo ${sq(s.hostname)} > /etc/hostname`,
    `  sed -i "s/127.0.1.1.*$CURRENT_HOSTNAME/127.0.1.1\\t"${sq(s.hostname)}"/g" /etc/hosts`,
    'fi',
    '',
    '# the user: the image\'s first user renamed (userconf-pi), or created',
    `FIRSTUSER=$(getent passwd 1000 | cut -d: -f1)`,
    `if [ -f /usr/lib/userconf-pi/userconf ]; then`,
    `  /usr/lib/userconf-pi/userconf ${sq(s.user)} ${sq(s.passwordHash ?? '!')}`,
    'elif ! id -u ' + sq(s.user) + ' >/dev/null 2>&1; then',
    `  useradd -m -G sudo -s /bin/bash ${sq(s.user)}`,
    `  echo ${sq(`${s.user}:${s.passwordHash ?? '!'}`)} | chpasswd -e`,
    'fi',
    `FIRSTHOME=$(getent passwd ${sq(s.user)} | cut -d: -f6)`,
    '',
    '# SSH: keys only',
    'if [ -f /usr/lib/raspberrypi-sys-mods/imager_custom ]; then',
    `  /usr/lib/raspberrypi-sys-mods/imager_custom enable_ssh -k ${keys}`,
    'else',
    '  install -o ' + sq(s.user) + ' -m 700 -d "$FIRSTHOME/.ssh"',
    `  printf '%s\\n' ${keys} > "$FIRSTHOME/.ssh/authorized_keys"`,
    '  chown ' + sq(s.user) + ': "$FIRSTHOME/.ssh/authorized_keys"',
    '  chmod 600 "$FIRSTHOME/.ssh/authorized_keys"',
    "  echo 'PasswordAuthentication no' > /etc/ssh/sshd_config.d/fogmesh.conf",
    '  systemctl enable ssh',
    'fi',
  ]
  if (s.wifi) {
    const w = s.wifi
    lines.push(
      '',
      '# Wi-Fi (NetworkManager on Bookworm) and its country',
      'if [ -f /usr/lib/raspberrypi-sys-mods/imager_custom ]; then',
      `  /usr/lib/raspberrypi-sys-mods/imager_custom set_wlan ${w.hidden ? '-h ' : ''}${sq(w.ssid)} ${sq(w.psk)}`,
      `  /usr/lib/raspberrypi-sys-mods/imager_custom set_wlan_country ${sq(w.country)}`,
      'else',
      "  cat > /etc/NetworkManager/system-connections/preconfigured.nmconnection <<'FOGMESH_WIFI'",
      '[connection]',
      'id=preconfigured',
      'type=wifi',
      '[wifi]',
      'mode=infrastructure',
      `ssid=${w.ssid}`,
      `hidden=${w.hidden ? 'true' : 'false'}`,
      '[wifi-security]',
      'key-mgmt=wpa-psk',
      `psk=${w.psk}`,
      '[ipv4]',
      'method=auto',
      '[ipv6]',
      'method=auto',
      'FOGMESH_WIFI',
      '  chmod 600 /etc/NetworkManager/system-connections/preconfigured.nmconnection',
      `  raspi-config nonint do_wifi_country ${sq(w.country)} 2>/dev/null || iw reg set ${sq(w.country)}`,
      'fi',
    )
  }
  lines.push(
    '',
    '# the fogmesh agent: installed and enabled now, started by the reboot that follows',
    `sh ${b}/fogmesh/firstboot.sh --no-start`,
    '',
    `rm -f ${b}/firstrun.sh`,
    `sed -i 's| systemd.run.*||g' ${b}/cmdline.txt`,
    'exit 0',
    '',
  )
  return lines.join('\n')
}

export const FIRSTRUN_CMDLINE = (bootPath: string) => `systemd.run=${bootPath}/firstrun.sh systemd.run_success_action=reboot systemd.unit=kernel-command-line.target`

/** cmdline.txt with the firstrun hook added once (cmdline.txt is one line; a hook already there is replaced). */
export function cmdlineWithFirstrun(cmdline: string, bootPath: string): string {
  const line = (cmdline.split('\n')[0] ?? '').replace(/ ?systemd\.(run|run_success_action|unit)=\S*/g, '').trim()
  return `${line} ${FIRSTRUN_CMDLINE(bootPath)}\n`
}

/** cloud-init user-data (#cloud-config) for Trixie images. */
export function cloudInitUserData(s: FirstBootSettings): string {
  return [
    '#cloud-config',
    '# Written by fogmesh flash: cloud-init applies it at first boot (Raspberry Pi OS Trixie and later).',
    `hostname: ${yq(s.hostname)}`,
    'manage_etc_hosts: true',
    'users:',
    `  - name: ${yq(s.user)}`,
    '    groups: users,adm,dialout,audio,netdev,video,plugdev,input,gpio,spi,i2c,render,sudo',
    '    shell: /bin/bash',
    '    sudo: "ALL=(ALL) NOPASSWD:ALL"',
    s.passwordHash ? `    lock_passwd: false\n    passwd: ${yq(s.passwordHash)}` : '    lock_passwd: true',
    '    ssh_authorized_keys:',
    ...s.sshKeys.map((k) => `      - ${yq(k)}`),
    'enable_ssh: true',
    'ssh_pwauth: false',
    'runcmd:',
    `  - [sh, ${yq(`${s.bootPath}/fogmesh/firstboot.sh`)}]`,
    '',
  ].join('\n')
}

/** cloud-init network-config (netplan v2): Wi-Fi with its regulatory domain, Ethernet by DHCP. */
export function cloudInitNetworkConfig(w: Wifi): string {
  return [
    '# Written by fogmesh flash (netplan v2, read by cloud-init at first boot)',
    'network:',
    '  version: 2',
    '  ethernets:',
    '    eth0:',
    '      dhcp4: true',
    '      optional: true',
    '  wifis:',
    '    wlan0:',
    '      dhcp4: true',
    `      regulatory-domain: ${yq(w.country)}`,
    '      access-points:',
    `        ${yq(w.ssid)}:`,
    `          password: ${yq(w.psk)}`,
    ...(w.hidden ? ['          hidden: true'] : []),
    '      optional: true',
    '',
  ].join('\n')
}

/** meta-data: a new instance id, so cloud-init treats the card as a first boot. */
export function cloudInitMetaData(hostname: string, nonce: string): string {
  return `instance-id: fogmesh-${hostname}-${nonce}\nlocal-hostname: ${hostname}\n`
}
