#!/bin/sh
# fogmesh-supervise: runs the agent of an A/B release root and owns the switch between releases.
# POSIX sh (dash, busybox ash): about 1 MB of memory, where a second Node would cost 40.
#
#   fogmesh-supervise --root /opt/fogmesh [--window 120] [--restart-delay 2] -- agent --config FILE ...
#
# The root (agent/update/update-layout.ts describes the same files):
#   releases/<version>-<arch>/  unpacked bundles        current -> releases/...  what runs
#   previous -> releases/...    what ran before         update/                   the files below
#
# 1. It starts `<root>/<current>/bin/fogmesh ARGS` and restarts it when it dies (backoff up to 60 s).
# 2. The agent stages a verified release, writes update/pending ("releases/<dir>") and exits 75.
# 3. The supervisor starts that release on trial (update/trial: "<dir> <deadline>", env
#    FOGMESH_UPDATE_TRIAL=1) and waits up to --window seconds for update/healthy, which the new
#    agent writes once it is online and its self-test job passed.
# 4. Healthy: `previous` -> the old release, `current` -> the new one (the commit), outcome "updated".
#    Exited or not healthy in time: the new agent is stopped, the old release starts again,
#    outcome "rolled_back", and the version goes to update/failed (never tried again).
#    A trial found at start (power lost during the window) is rolled back the same way.
#    Only `current` and `previous` are kept: a rolled-back release and the one that was `previous`
#    before a commit are removed (best effort: files the agent's user may not delete stay).
# Outcomes go to update/last.json, which the agent reports in its presence.
set -u
ROOT=''
WINDOW=120
DELAY=2
while [ $# -gt 0 ]; do
  case "$1" in
    --root) ROOT=${2:?--root takes a directory}; shift 2 ;;
    --window) WINDOW=${2:?--window takes seconds}; shift 2 ;;
    --restart-delay) DELAY=${2:?--restart-delay takes seconds}; shift 2 ;;
    --) shift; break ;;
    -h|--help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "fogmesh-supervise: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
[ -n "$ROOT" ] || { echo "fogmesh-supervise: --root is required" >&2; exit 2; }
case "$WINDOW$DELAY" in *[!0-9]*) echo "fogmesh-supervise: --window and --restart-delay take whole seconds" >&2; exit 2 ;; esac
case "$ROOT" in /*) ;; *) ROOT="$(pwd)/$ROOT" ;; esac
U="$ROOT/update"
mkdir -p "$U" || exit 1
cd / || exit 1 # a service keeps no directory busy (and survives the one it was started from going away)

say() { echo "supervise: $*"; }
ver() { d=${1#releases/}; echo "${d%-*}"; }
now() { date +%s; }
nap() { sleep 0.2 2>/dev/null || sleep 1; }

# one symlink replaced in one rename where mv has -T (coreutils), in two steps elsewhere
relink() {
  ln -sfn "$2" "$ROOT/.$1.tmp" || return 1
  mv -fT "$ROOT/.$1.tmp" "$ROOT/$1" 2>/dev/null && return 0
  rm -f "$ROOT/$1" && mv -f "$ROOT/.$1.tmp" "$ROOT/$1"
}

# prune DIR: removes releases/<name> (nothing else) unless current or previous names it
prune() {
  case "$1" in releases/*/* | releases/ | *..* | '') return 0 ;; releases/*) ;; *) return 0 ;; esac
  [ "$1" = "$(readlink "$ROOT/current" 2>/dev/null)" ] && return 0
  [ "$1" = "$(readlink "$ROOT/previous" 2>/dev/null)" ] && return 0
  [ -d "$ROOT/$1" ] || return 0
  rm -rf "$ROOT/$1" 2>/dev/null || say "could not remove all of $1 (files another user owns)"
}

# outcome KIND VERSION FROM [REASON MESSAGE]
outcome() {
  extra=''
  [ $# -ge 5 ] && extra=",\"reason\":\"$4\",\"message\":\"$5\""
  printf '{"outcome":"%s","version":"%s","from":"%s"%s,"at":%s000}\n' "$1" "$2" "$3" "$extra" "$(now)" >"$U/.last.json.$$" &&
    mv -f "$U/.last.json.$$" "$U/last.json"
}

child=''
stopping=0
on_term() {
  stopping=1
  [ -n "$child" ] && kill -TERM "$child" 2>/dev/null
}
trap on_term TERM INT HUP

# stops the child: TERM, KILL after 10 s; sets rc
stop_child() {
  kill -TERM "$child" 2>/dev/null
  i=0
  while kill -0 "$child" 2>/dev/null && [ $i -lt 50 ]; do nap; i=$((i + 1)); done
  kill -KILL "$child" 2>/dev/null
  wait "$child" 2>/dev/null
  rc=$?
}

# the outcome is written last: once last.json says so, everything else is done
rollback() { # DIR FROM REASON MESSAGE
  ver "$1" >>"$U/failed"
  rm -f "$U/trial" "$U/healthy"
  prune "$1"
  outcome rolled_back "$(ver "$1")" "$(ver "$2")" "$3" "$4"
  say "rolled back $(ver "$1") -> $(ver "$2"): $4"
}

cur=$(readlink "$ROOT/current") || { echo "fogmesh-supervise: $ROOT/current is missing (run install.sh)" >&2; exit 1; }
if [ -f "$U/trial" ]; then
  read -r tdir _ <"$U/trial"
  rollback "$tdir" "$cur" interrupted "the trial was interrupted before the release proved healthy"
fi

trial=''
backoff=$DELAY
while [ $stopping = 0 ]; do
  cur=$(readlink "$ROOT/current") || { echo "fogmesh-supervise: $ROOT/current is missing" >&2; exit 1; }
  dir=${trial:-$cur}
  if [ ! -x "$ROOT/$dir/bin/fogmesh" ]; then
    if [ -n "$trial" ]; then rollback "$trial" "$cur" missing "no bin/fogmesh in $dir"; trial=''; continue; fi
    echo "fogmesh-supervise: no $ROOT/$dir/bin/fogmesh" >&2
    exit 1
  fi
  rm -f "$U/healthy"
  if [ -n "$trial" ]; then
    deadline=$(($(now) + WINDOW))
    echo "$trial $deadline" >"$U/.trial.$$" && mv -f "$U/.trial.$$" "$U/trial"
    say "trying $(ver "$trial") (running $(ver "$cur") before); healthy within ${WINDOW}s or rolled back"
  fi
  started=$(now)
  FOGMESH_RELEASE_ROOT="$ROOT" FOGMESH_RELEASE_DIR="$ROOT/$dir" FOGMESH_UPDATE_TRIAL="${trial:+1}" "$ROOT/$dir/bin/fogmesh" "$@" &
  child=$!

  if [ -n "$trial" ]; then
    result=''
    while [ -z "$result" ]; do
      if [ -f "$U/healthy" ]; then result=healthy
      elif ! kill -0 "$child" 2>/dev/null; then result=exited
      elif [ "$(now)" -ge "$deadline" ]; then result=timeout
      elif [ $stopping = 1 ]; then result=stopping
      else nap
      fi
    done
    case $result in
      healthy)
        old=$(readlink "$ROOT/previous" 2>/dev/null) || old=''
        relink previous "$cur" && relink current "$trial" || { echo "fogmesh-supervise: cannot switch $ROOT/current" >&2; exit 1; }
        rm -f "$U/trial" "$U/healthy"
        prune "$old"
        outcome updated "$(ver "$trial")" "$(ver "$cur")"
        say "updated $(ver "$cur") -> $(ver "$trial")"
        ;;
      exited)
        wait "$child" 2>/dev/null
        rc=$?
        rollback "$trial" "$cur" "exit_$rc" "the new release exited with code $rc before it was healthy"
        trial=''
        child=''
        continue
        ;;
      timeout)
        stop_child
        rollback "$trial" "$cur" unhealthy "the new release was not online with a passing self-test within ${WINDOW}s"
        trial=''
        child=''
        continue
        ;;
      stopping) ;;
    esac
    trial=''
  fi

  # steady state: wait for the agent; a signal to us is passed on, and we wait again
  wait "$child"
  rc=$?
  while kill -0 "$child" 2>/dev/null; do
    wait "$child"
    rc=$?
  done
  child=''
  [ $stopping = 1 ] && break
  if [ $rc = 75 ] && [ -f "$U/pending" ]; then
    read -r next <"$U/pending"
    rm -f "$U/pending"
    case "$next" in
      releases/*/* | releases/ | *..*) say "ignored a malformed update/pending: $next" ;;
      releases/*) trial=$next; backoff=$DELAY; continue ;;
      *) say "ignored a malformed update/pending: $next" ;;
    esac
  fi
  [ $(($(now) - started)) -gt 60 ] && backoff=$DELAY
  say "agent exited with code $rc; starting it again in ${backoff}s"
  i=0
  while [ $i -lt "$backoff" ] && [ $stopping = 0 ]; do sleep 1; i=$((i + 1)); done
  backoff=$((backoff * 2))
  [ $backoff -gt 60 ] && backoff=60
done
say "stopped"
exit 0
