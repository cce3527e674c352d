#!/bin/sh
# fogmesh on a device (bin/fogmesh of a bundle): runs lib/fogmesh.js on the bundle's own Node
# (node/bin/node, from `fogmesh bundle --with-node`) or else the `node` on PATH.
# FOGMESH_NODE_FLAGS replaces the V8 flags below (memory: small young generation, no lazy feedback).
self=$(readlink -f "$0" 2>/dev/null || echo "$0")
here=$(cd "$(dirname "$self")/.." && pwd -P)
if [ -x "$here/node/bin/node" ]; then
  node="$here/node/bin/node"
elif command -v node >/dev/null 2>&1; then
  node=$(command -v node)
else
  echo "fogmesh: no Node.js on $(hostname 2>/dev/null || echo this host): install Node >= @NODE_MIN@ or use a bundle made with --with-node" >&2
  exit 127
fi
# shellcheck disable=SC2086
exec "$node" ${FOGMESH_NODE_FLAGS-@NODE_FLAGS@} "$here/lib/fogmesh.js" "$@"
