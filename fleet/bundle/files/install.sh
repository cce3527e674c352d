#!/bin/sh
# Installs the fogmesh agent from this unpacked bundle (docs/bundle.md). Idempotent: run it again
# to change the config or to restart; an existing config is merged with the flags, never replaced.
#
#   sudo ./install.sh --broker mqtt://192.168.1.10:1883 [--name N] [--labels k=v,...] [--accept-from ID,...|any] [--config FILE]
#                     [--no-start] [--systemd auto|yes|no] [--prefix /opt/fogmesh]
set -eu
VERSION='@VERSION@'
ARCH='@ARCH@'
UNAMES='@UNAMES@'
NODE_MIN='@NODE_MIN@'

PREFIX=/opt/fogmesh
CONFIG_DIR=/etc/fogmesh
STATE_DIR=/var/lib/fogmesh
RUN_DIR=/run
LOG_FILE=/var/log/fogmesh-agent.log
UNIT_DIR=/etc/systemd/system
AGENT_USER=fogmesh
EXEC_USER=fogmesh-exec
BROKER=''
NAME=''
LABELS=''
ACCEPT_FROM=''
CONFIG_SRC=''
START=1
SYSTEMD=auto

die() { echo "install.sh: $*" >&2; exit 1; }
say() { echo "install: $*"; }
usage() { sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//'; }

while [ $# -gt 0 ]; do
  case "$1" in
    --broker) BROKER=${2:?--broker takes a URL}; shift 2 ;;
    --name) NAME=${2:?--name takes a name}; shift 2 ;;
    --labels) LABELS=${2:?--labels takes k=v,...}; shift 2 ;;
    --accept-from) ACCEPT_FROM=${2:?--accept-from takes requester ids or any}; shift 2 ;;
    --config) CONFIG_SRC=${2:?--config takes a file}; shift 2 ;;
    --no-start) START=0; shift ;;
    --systemd) SYSTEMD=${2:?--systemd takes auto, yes or no}; shift 2 ;;
    --prefix) PREFIX=${2:?}; shift 2 ;;
    --config-dir) CONFIG_DIR=${2:?}; shift 2 ;;
    --state-dir) STATE_DIR=${2:?}; shift 2 ;;
    --run-dir) RUN_DIR=${2:?}; shift 2 ;;
    --log) LOG_FILE=${2:?}; shift 2 ;;
    --unit-dir) UNIT_DIR=${2:?}; shift 2 ;;
    --user) AGENT_USER=${2:?}; shift 2 ;;
    --exec-user) EXEC_USER=${2:?}; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) die "unknown option $1 (see ./install.sh --help)" ;;
  esac
done

here=$(cd "$(dirname "$0")" && pwd -P)
host=$(hostname 2>/dev/null || echo this host)
[ "$(id -u)" = 0 ] || die "run it as root (sudo ./install.sh ...)"

# 1. this bundle fits this host, and is whole
m=$(uname -m)
case " $UNAMES " in *" $m "*) ;; *) die "bundle is for $ARCH, $host is $m" ;; esac
if command -v sha256sum >/dev/null 2>&1; then
  (cd "$here" && sha256sum -c --quiet SHA256SUMS >/dev/null 2>&1) || die "bundle files do not match SHA256SUMS (corrupted or truncated copy): $here"
else
  say "no sha256sum on $host: file hashes are checked by fogmesh verify below"
fi
if [ -x "$here/node/bin/node" ]; then
  NODE="$here/node/bin/node"
elif command -v node >/dev/null 2>&1; then
  NODE=$(command -v node)
else
  die "no Node.js on $host: install Node >= $NODE_MIN, or use a bundle made with --with-node"
fi
"$NODE" -e "const [a,b,c]=process.versions.node.split('.').map(Number),[x,y,z]='$NODE_MIN'.split('.').map(Number);process.exit(a!==x?(a>x?0:1):b!==y?(b>y?0:1):c>=z?0:1)" 2>/dev/null \
  || die "Node $("$NODE" --version 2>/dev/null || echo '(does not run here)') at $NODE on $host is too old or broken; the bundle needs >= $NODE_MIN"
"$NODE" "$here/lib/fogmesh.js" verify "$here" >/dev/null || die "bundle at $here failed fogmesh verify"
say "bundle fogmesh $VERSION for $ARCH checked; Node $("$NODE" --version) at $NODE"

# 2. users: the agent's, and an unprivileged one for job code
add_user() {
  id -u "$1" >/dev/null 2>&1 && return 0
  if command -v useradd >/dev/null 2>&1; then
    useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin --user-group "$1"
  elif command -v adduser >/dev/null 2>&1; then
    adduser -S -D -H -h /nonexistent -s /sbin/nologin "$1" 2>/dev/null || adduser --system --no-create-home --group "$1"
  else
    die "cannot create user $1 on $host: no useradd or adduser"
  fi
  say "created user $1"
}
add_user "$AGENT_USER"
add_user "$EXEC_USER"

# 3. the release, side by side with earlier ones; `current` points at it
dest="$PREFIX/releases/$VERSION-$ARCH"
if [ -f "$dest/manifest.json" ] && cmp -s "$dest/manifest.json" "$here/manifest.json"; then
  say "release $dest already installed"
else
  mkdir -p "$PREFIX/releases"
  rm -rf "$dest.tmp"
  cp -R "$here" "$dest.tmp"
  chown -R 0:0 "$dest.tmp"
  chmod -R go-w "$dest.tmp"
  rm -rf "$dest"
  mv "$dest.tmp" "$dest"
  say "installed $dest"
fi
# switched with a rename where mv has -T (GNU), else ln -sfn (never `mv` onto a link to a directory:
# that moves into it)
rm -f "$PREFIX/current.tmp"
ln -s "releases/$VERSION-$ARCH" "$PREFIX/current.tmp"
mv -Tf "$PREFIX/current.tmp" "$PREFIX/current" 2>/dev/null || { rm -f "$PREFIX/current.tmp"; ln -sfn "releases/$VERSION-$ARCH" "$PREFIX/current"; }
[ "$(readlink "$PREFIX/current")" = "releases/$VERSION-$ARCH" ] || die "could not point $PREFIX/current at releases/$VERSION-$ARCH"
say "$PREFIX/current -> releases/$VERSION-$ARCH"
# OTA (agent/update): the agent's user unpacks signed releases beside this one and its supervisor
# switches the links, so it owns these directories (not the files of the releases installed here)
mkdir -p "$PREFIX/update"
chown "$AGENT_USER" "$PREFIX" "$PREFIX/releases" "$PREFIX/update"

# 4. config: the template the first time, then only what the flags change
mkdir -p "$CONFIG_DIR"
cfg="$CONFIG_DIR/agent.json"
if [ -n "$CONFIG_SRC" ]; then cp "$CONFIG_SRC" "$cfg.new"; elif [ -f "$cfg" ]; then cp "$cfg" "$cfg.new"; else cp "$here/etc/agent.json" "$cfg.new"; fi
FM_BROKER="$BROKER" FM_NAME="$NAME" FM_LABELS="$LABELS" FM_ACCEPT="$ACCEPT_FROM" FM_STATE="$STATE_DIR" FM_EXEC="$EXEC_USER" "$NODE" -e '
  const fs = require("fs"); const f = process.argv[1]; const c = JSON.parse(fs.readFileSync(f, "utf8"));
  const e = process.env;
  if (e.FM_BROKER) c.broker = e.FM_BROKER;
  if (e.FM_NAME) c.name = e.FM_NAME;
  if (e.FM_LABELS) c.labels = Object.fromEntries(e.FM_LABELS.split(",").filter(Boolean).map((p) => [p.slice(0, p.indexOf("=")), p.slice(p.indexOf("=") + 1)]));
  if (e.FM_ACCEPT) c.acceptFrom = e.FM_ACCEPT; // whose jobs it runs (requester ids, or any)
  c.data = e.FM_STATE; c.executorUser = e.FM_EXEC; // where install.sh put them
  fs.writeFileSync(f, JSON.stringify(c, null, 2) + "\n");' "$cfg.new" || die "config $cfg.new is not valid JSON"
chmod 0644 "$cfg.new"
mv "$cfg.new" "$cfg"
say "config $cfg"

# 5. state: identity key, module cache, voucher journal
mkdir -p "$STATE_DIR"
chown "$AGENT_USER:$AGENT_USER" "$STATE_DIR" 2>/dev/null || chown "$AGENT_USER" "$STATE_DIR"
chmod 0700 "$STATE_DIR"
say "state $STATE_DIR (owner $AGENT_USER)"

# 6. the service
if [ "$SYSTEMD" = auto ]; then
  if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then SYSTEMD=yes; else SYSTEMD=no; fi
fi
if [ "$SYSTEMD" = yes ]; then
  mkdir -p "$UNIT_DIR"
  sed -e "s#/opt/fogmesh#$PREFIX#g" -e "s#/etc/fogmesh/agent.json#$cfg#g" \
    -e "s#^User=fogmesh\$#User=$AGENT_USER#" -e "s#^Group=fogmesh\$#Group=$AGENT_USER#" -e "s#--executor-user fogmesh-exec#--executor-user $EXEC_USER#" \
    "$here/systemd/fogmesh-agent.service" > "$UNIT_DIR/fogmesh-agent.service"
  if [ ! -d /run/systemd/system ]; then
    # an image being prepared, a chroot: the unit is in place for the first boot
    say "systemd: $UNIT_DIR/fogmesh-agent.service written; systemd is not running here, so not enabled or started"
  else
    systemctl daemon-reload
    systemctl enable fogmesh-agent.service >/dev/null 2>&1
    if [ "$START" = 1 ]; then systemctl restart fogmesh-agent.service; say "systemd: fogmesh-agent.service enabled and (re)started"; else say "systemd: fogmesh-agent.service enabled (not started)"; fi
  fi
else
  mkdir -p "$RUN_DIR" "$(dirname "$LOG_FILE")"
  pidfile="$RUN_DIR/fogmesh-agent.pid"
  if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    kill "$(cat "$pidfile")" 2>/dev/null || true
    i=0; while kill -0 "$(cat "$pidfile")" 2>/dev/null && [ $i -lt 50 ]; do sleep 0.2; i=$((i + 1)); done
    say "stopped the running agent"
  fi
  rm -f "$pidfile"
  if [ "$START" = 1 ]; then
    command -v setpriv >/dev/null 2>&1 || die "no systemd and no setpriv on $host: cannot start the agent as $AGENT_USER"
    touch "$LOG_FILE"; chown "$AGENT_USER" "$LOG_FILE"
    uid=$(id -u "$AGENT_USER"); gid=$(id -g "$AGENT_USER")
    # as the unit does: the agent as its user, with only what it needs to start its executor as another
    setsid setpriv --reuid="$uid" --regid="$gid" --init-groups --inh-caps=+setuid,+setgid,+kill --ambient-caps=+setuid,+setgid,+kill -- \
      env FOGMESH_HOME="$STATE_DIR" "$PREFIX/current/bin/fogmesh-supervise" --root "$PREFIX" -- agent --config "$cfg" >>"$LOG_FILE" 2>&1 </dev/null &
    echo $! > "$pidfile"
    say "no systemd: agent started in the background as $AGENT_USER (pid $(cat "$pidfile"), log $LOG_FILE)"
  else
    say "no systemd: not started (--no-start)"
  fi
fi
