#!/bin/sh
# Builds sum.c into sum.wasm, a WASI preview1 command (fogmesh job), with clang + wasi-libc.
#
# Debian/Ubuntu:  apt-get install clang lld wasi-libc libclang-rt-dev-wasm32
#   Debian's wasi-libc is not a separate sysroot directory: headers are in
#   /usr/include/wasm32-wasi and libraries in /usr/lib/wasm32-wasi, which Debian's clang
#   finds by itself for --target=wasm32-wasi, so no --sysroot is needed.
# wasi-sdk (or any other sysroot):  WASI_SYSROOT=/opt/wasi-sdk/share/wasi-sysroot ./build.sh
#
# Not part of `npm install`: the npm build needs only the AssemblyScript compiler.
set -eu
cd "$(dirname "$0")"
CC="${CC:-clang}"
SYSROOT_FLAG=""
if [ -n "${WASI_SYSROOT:-}" ]; then SYSROOT_FLAG="--sysroot=$WASI_SYSROOT"; fi

# shellcheck disable=SC2086
"$CC" --target=wasm32-wasi $SYSROOT_FLAG -O2 -Wall -Wextra -Werror -s -o sum.wasm sum.c

echo "built $(pwd)/sum.wasm ($(wc -c < sum.wasm) bytes)"
