// fogmesh job runtime for AssemblyScript: the only host interface is WASI preview1.
//
// bin/build-modules.js passes `--lib wasm-modules/lib/assembly`, which makes this file
// importable from every job as `import { ... } from "wasi_job"`, and redirects
// AssemblyScript's special imports to the functions below:
//
//   --use abort=wasiJobAbort   (instead of env.abort)
//   --use trace=wasiJobTrace   (instead of env.trace)
//   --use seed=wasiJobSeed     (instead of env.seed, i.e. Math.random)
//
// so that a compiled job imports nothing but `wasi_snapshot_preview1.*`.
// Only the functions a job actually calls end up in its binary.

// ---------------------------------------------------------------------------
// WASI preview1 imports (all parameters are i32 on wasm32; errno is a u16)
// ---------------------------------------------------------------------------

// @ts-ignore: decorator
@external("wasi_snapshot_preview1", "fd_read")
export declare function wasi_fd_read(fd: u32, iovs: usize, iovsLen: usize, nread: usize): u16;

// @ts-ignore: decorator
@external("wasi_snapshot_preview1", "fd_write")
export declare function wasi_fd_write(fd: u32, iovs: usize, iovsLen: usize, nwritten: usize): u16;

// @ts-ignore: decorator
@external("wasi_snapshot_preview1", "proc_exit")
export declare function wasi_proc_exit(code: u32): void;

export const STDIN: u32 = 0;
export const STDOUT: u32 = 1;
export const STDERR: u32 = 2;

const ERRNO_AGAIN: u16 = 6;
const ERRNO_INTR: u16 = 27;

// One iovec { buf: u32, buf_len: u32 } followed by the u32 result slot.
// @ts-ignore: decorator
@lazy const IOV: usize = memory.data(16, 16);

// ---------------------------------------------------------------------------
// Exit
// ---------------------------------------------------------------------------

/** Ends the job with `code` (0 = success). Never returns. */
export function exit(code: u32): void {
  wasi_proc_exit(code);
  unreachable();
}

// ---------------------------------------------------------------------------
// Reading
// ---------------------------------------------------------------------------

/**
 * One fd_read into [buf, buf+len). Returns the number of bytes read (0 = EOF),
 * or -errno on error. EINTR/EAGAIN are retried.
 */
export function readSome(fd: u32, buf: usize, len: usize): isize {
  while (true) {
    store<u32>(IOV, <u32>buf, 0);
    store<u32>(IOV, <u32>len, 4);
    store<u32>(IOV, 0, 8);
    const err = wasi_fd_read(fd, IOV, 1, IOV + 8);
    if (err == ERRNO_INTR || err == ERRNO_AGAIN) continue;
    if (err != 0) return -(<isize>err);
    return <isize>load<u32>(IOV, 8);
  }
}

/** Length of the buffer returned by the last readAll(). */
export let readAllLength: usize = 0;

/**
 * Reads `fd` until EOF (fd_read reporting 0 bytes) into one heap buffer and
 * returns its address; the length is in `readAllLength`. The buffer grows by
 * doubling, so input larger than one read is fine. On a read error the job
 * fails with a message on stderr.
 */
export function readAll(fd: u32): usize {
  let cap: usize = 64 * 1024;
  let buf = heap.alloc(cap);
  let len: usize = 0;
  while (true) {
    if (len == cap) {
      cap <<= 1;
      buf = heap.realloc(buf, cap);
    }
    const n = readSome(fd, buf + len, cap - len);
    if (n < 0) failErrno("reading stdin failed", <u32>(-n));
    if (n == 0) break;
    len += <usize>n;
  }
  readAllLength = len;
  return buf;
}

// ---------------------------------------------------------------------------
// Writing
// ---------------------------------------------------------------------------

/**
 * Writes all of [ptr, ptr+len) to `fd`, looping on partial writes.
 * Returns 0, or the WASI errno of the failed write (5 = EIO for a write that
 * made no progress).
 */
export function writeAll(fd: u32, ptr: usize, len: usize): u16 {
  while (len > 0) {
    store<u32>(IOV, <u32>ptr, 0);
    store<u32>(IOV, <u32>len, 4);
    store<u32>(IOV, 0, 8);
    const err = wasi_fd_write(fd, IOV, 1, IOV + 8);
    if (err == ERRNO_INTR || err == ERRNO_AGAIN) continue;
    if (err != 0) return err;
    const n = <usize>load<u32>(IOV, 8);
    if (n == 0) return 5;
    ptr += n;
    len -= n;
  }
  return 0;
}

/** Writes all bytes to stdout; a failed write ends the job with exit code 1. */
export function writeStdout(ptr: usize, len: usize): void {
  const err = writeAll(STDOUT, ptr, len);
  if (err != 0) failErrno("writing stdout failed", err);
}

// A small growable scratch buffer for text written to stderr.
// @ts-ignore: decorator
@lazy let textBuf: usize = 0;
// @ts-ignore: decorator
@lazy let textCap: usize = 0;

function textReserve(size: usize): usize {
  if (size > textCap) {
    textCap = max<usize>(size, 256);
    textBuf = heap.alloc(textCap);
  }
  return textBuf;
}

/** Writes a string (encoded as UTF-8) to `fd`. Write errors are ignored. */
export function writeText(fd: u32, s: string): void {
  const n = <usize>s.length;
  const out = textReserve(n * 3);
  const src = changetype<usize>(s);
  let p = out;
  for (let i: usize = 0; i < n; i++) {
    let c = <u32>load<u16>(src + (i << 1));
    if (c < 0x80) {
      store<u8>(p++, <u8>c);
    } else if (c < 0x800) {
      store<u8>(p++, <u8>(0xC0 | (c >> 6)));
      store<u8>(p++, <u8>(0x80 | (c & 0x3F)));
    } else {
      if (c >= 0xD800 && c < 0xDC00 && i + 1 < n) {
        const c2 = <u32>load<u16>(src + ((i + 1) << 1));
        if (c2 >= 0xDC00 && c2 < 0xE000) {
          // surrogate pair: 4 bytes (2 UTF-16 units -> at most 6 bytes reserved, so it fits)
          const cp = 0x10000 + ((c - 0xD800) << 10) + (c2 - 0xDC00);
          store<u8>(p++, <u8>(0xF0 | (cp >> 18)));
          store<u8>(p++, <u8>(0x80 | ((cp >> 12) & 0x3F)));
          store<u8>(p++, <u8>(0x80 | ((cp >> 6) & 0x3F)));
          store<u8>(p++, <u8>(0x80 | (cp & 0x3F)));
          i++;
          continue;
        }
      }
      if (c >= 0xD800 && c < 0xE000) c = 0xFFFD; // lone surrogate: replacement character
      store<u8>(p++, <u8>(0xE0 | (c >> 12)));
      store<u8>(p++, <u8>(0x80 | ((c >> 6) & 0x3F)));
      store<u8>(p++, <u8>(0x80 | (c & 0x3F)));
    }
  }
  writeAll(fd, out, p - out);
}

/** Writes the decimal digits of `v` to `fd`. */
export function writeU32(fd: u32, v: u32): void {
  const out = textReserve(16);
  let p = out + 16;
  do {
    store<u8>(--p, <u8>(0x30 + v % 10));
    v /= 10;
  } while (v != 0);
  writeAll(fd, p, out + 16 - p);
}

/**
 * Writes untrusted input bytes to `fd` for an error message: at most `maxLen`
 * bytes, anything outside printable ASCII shown as '?', "..." when cut.
 */
export function writeSanitized(fd: u32, ptr: usize, len: usize, maxLen: usize): void {
  const n = min<usize>(len, maxLen);
  const out = textReserve(n + 3);
  for (let i: usize = 0; i < n; i++) {
    const c = load<u8>(ptr + i);
    store<u8>(out + i, c >= 0x20 && c < 0x7F ? c : 0x3F);
  }
  let total = n;
  if (len > maxLen) {
    store<u8>(out + n, 0x2E);
    store<u8>(out + n + 1, 0x2E);
    store<u8>(out + n + 2, 0x2E);
    total += 3;
  }
  writeAll(fd, out, total);
}

// ---------------------------------------------------------------------------
// Failing
// ---------------------------------------------------------------------------

/** Writes `message` and a newline to stderr and exits with code 1. */
export function fail(message: string): void {
  writeText(STDERR, message);
  writeText(STDERR, "\n");
  exit(1);
}

/** Like fail(), with " (WASI errno N)" appended. */
export function failErrno(message: string, errno: u32): void {
  writeText(STDERR, message);
  writeText(STDERR, " (WASI errno ");
  writeU32(STDERR, errno);
  writeText(STDERR, ")\n");
  exit(1);
}

// ---------------------------------------------------------------------------
// AssemblyScript special imports, redirected with --use
// ---------------------------------------------------------------------------

/** `abort` (failed assert, throw, bounds check...): message on stderr, exit code 1. */
export function wasiJobAbort(
  message: string | null = null,
  fileName: string | null = null,
  line: u32 = 0,
  column: u32 = 0
): void {
  writeText(STDERR, "abort: ");
  if (message !== null) writeText(STDERR, message);
  if (fileName !== null) {
    writeText(STDERR, " at ");
    writeText(STDERR, fileName);
    writeText(STDERR, ":");
    writeU32(STDERR, line);
    writeText(STDERR, ":");
    writeU32(STDERR, column);
  }
  writeText(STDERR, "\n");
  exit(1);
}

/** `trace(message, n, a0..a4)`: written to stderr. */
export function wasiJobTrace(
  message: string,
  n: i32 = 0,
  a0: f64 = 0,
  a1: f64 = 0,
  a2: f64 = 0,
  a3: f64 = 0,
  a4: f64 = 0
): void {
  writeText(STDERR, "trace: ");
  writeText(STDERR, message);
  if (n > 0) { writeText(STDERR, " "); writeText(STDERR, a0.toString()); }
  if (n > 1) { writeText(STDERR, " "); writeText(STDERR, a1.toString()); }
  if (n > 2) { writeText(STDERR, " "); writeText(STDERR, a2.toString()); }
  if (n > 3) { writeText(STDERR, " "); writeText(STDERR, a3.toString()); }
  if (n > 4) { writeText(STDERR, " "); writeText(STDERR, a4.toString()); }
  writeText(STDERR, "\n");
}

/** `seed` (used by Math.random): jobs must be deterministic, so this fails. */
export function wasiJobSeed(): f64 {
  fail("Math.random is not available in fogmesh jobs (jobs must be deterministic)");
  return 0;
}
