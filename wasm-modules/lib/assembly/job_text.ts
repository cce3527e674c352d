// Text input and JSON output helpers for jobs, on raw UTF-8 bytes. Imported as "job_text".
//
//   scanInit(ptr, len)     start tokenizing [ptr, ptr + len) (a UTF-8 BOM is skipped)
//   scanNext()             next token: scanTok / scanTokLen / scanLine (1-based line);
//                          tokens are separated by runs of spaces, tabs, CR, LF, VT, FF, commas
//   scanEquals(k)          index of the first '=' in the token (k = -1 if none)
//   tokenIs(ptr, len, s)   the bytes equal the ASCII string s
//   parseWhole(ptr, len)   a whole number of decimal digits (no sign), -1 if not one or > 2^32 - 1
//   outInit(cap)           start an output buffer that grows as needed
//   outByte/outAscii/outF64/outU64  append to it (outF64: JavaScript's shortest form)
//   outFlush()             write it all to stdout
//   jobName(name)          the prefix of every error message ("zscore" -> "zscore: ...")
//   jobFail(msg)           "<job>: msg" on stderr, exit code 1
//   jobFailLine(msg, line) "<job>: msg (line N)"
//   jobFailToken(msg, ptr, len, reading, line)
//                          "<job>: msg "token" (reading N, line N)"  (token sanitized, cut at 40 bytes)
//
// Every exported name starts with scan/out/job/token/parse: AssemblyScript makes the exports
// of --lib files global names in every job (a job's own declaration shadows them), so the
// prefixes keep it obvious which names come from here.
import { STDERR, writeStdout, writeText, writeU32, writeSanitized, exit } from "wasi_job";
import { formatF64, FORMAT_MAX } from "f64text";

// ---------------------------------------------------------------------------
// Tokenizer
// ---------------------------------------------------------------------------

// @ts-ignore: decorator
@lazy let scanPos: usize = 0;
// @ts-ignore: decorator
@lazy let scanEnd: usize = 0;
/** Start of the current token. */
// @ts-ignore: decorator
@lazy export let scanTok: usize = 0;
/** Length of the current token in bytes. */
// @ts-ignore: decorator
@lazy export let scanTokLen: usize = 0;
/** Line of the current token (1-based); after scanNext() returned false, the last line. */
// @ts-ignore: decorator
@lazy export let scanLine: u32 = 1;

// @ts-ignore: decorator
@inline function scanIsSeparator(c: u32): bool {
  // space, comma, and \t \n \v \f \r (0x09..0x0D)
  return c == 0x20 || c == 0x2C || (c - 0x09) <= 4;
}

/** Starts tokenizing the bytes [ptr, ptr + len). A UTF-8 byte order mark is skipped. */
export function scanInit(ptr: usize, len: usize): void {
  scanPos = ptr;
  scanEnd = ptr + len;
  scanLine = 1;
  scanTok = ptr;
  scanTokLen = 0;
  if (len >= 3 && load<u8>(ptr) == 0xEF && load<u8>(ptr + 1) == 0xBB && load<u8>(ptr + 2) == 0xBF) scanPos += 3;
}

/** Moves to the next token; false at the end of the input. */
export function scanNext(): bool {
  let p = scanPos;
  const end = scanEnd;
  let line = scanLine;
  while (p < end) {
    const c = <u32>load<u8>(p);
    if (!scanIsSeparator(c)) break;
    if (c == 0x0A) line++;
    p++;
  }
  scanLine = line;
  if (p >= end) {
    scanPos = p;
    scanTokLen = 0;
    return false;
  }
  const start = p;
  while (p < end && !scanIsSeparator(<u32>load<u8>(p))) p++;
  scanTok = start;
  scanTokLen = p - start;
  scanPos = p;
  return true;
}

/** Index of the first '=' in the current token, or -1. */
export function scanEquals(): isize {
  for (let i: usize = 0; i < scanTokLen; i++) {
    if (load<u8>(scanTok + i) == 0x3D) return <isize>i;
  }
  return -1;
}

/** True when the bytes [ptr, ptr + len) are exactly the ASCII string `s`. */
export function tokenIs(ptr: usize, len: usize, s: string): bool {
  if (len != <usize>s.length) return false;
  for (let i: usize = 0; i < len; i++) {
    if (<u32>load<u8>(ptr + i) != <u32>s.charCodeAt(<i32>i)) return false;
  }
  return true;
}

/** The bytes [ptr, ptr + len) as a whole number (decimal digits only), or -1. At most 2^32 - 1. */
export function parseWhole(ptr: usize, len: usize): i64 {
  if (len == 0) return -1;
  let v: i64 = 0;
  for (let i: usize = 0; i < len; i++) {
    const d = <u32>load<u8>(ptr + i) - 0x30;
    if (d >= 10) return -1;
    v = v * 10 + <i64>d;
    if (v > 0xFFFFFFFF) return -1;
  }
  return v;
}

// ---------------------------------------------------------------------------
// Output buffer
// ---------------------------------------------------------------------------

// @ts-ignore: decorator
@lazy let outBuf: usize = 0;
// @ts-ignore: decorator
@lazy let outLen: usize = 0;
// @ts-ignore: decorator
@lazy let outCap: usize = 0;

/** Starts an empty output buffer with `cap` bytes reserved (it grows when needed). */
export function outInit(cap: usize): void {
  outCap = max<usize>(cap, 64);
  outBuf = heap.alloc(outCap);
  outLen = 0;
}

/** Makes room for `n` more bytes and returns where they go. */
// @ts-ignore: decorator
@inline function outReserve(n: usize): usize {
  if (outLen + n > outCap) outGrow(n);
  return outBuf + outLen;
}

function outGrow(n: usize): void {
  let cap = outCap << 1;
  while (cap < outLen + n) cap <<= 1;
  outBuf = heap.realloc(outBuf, cap);
  outCap = cap;
}

export function outByte(c: u32): void {
  store<u8>(outReserve(1), <u8>c);
  outLen++;
}

/** Appends an ASCII string (one byte per UTF-16 unit; use only for ASCII text). */
export function outAscii(s: string): void {
  const n = <usize>s.length;
  const p = outReserve(n);
  for (let i: usize = 0; i < n; i++) store<u8>(p + i, <u8>s.charCodeAt(<i32>i));
  outLen += n;
}

/** Appends raw bytes. */
export function outBytes(ptr: usize, len: usize): void {
  const p = outReserve(len);
  memory.copy(p, ptr, len);
  outLen += len;
}

/** Appends x exactly as JavaScript's JSON.stringify prints it (x must be finite; -0 is "0"). */
export function outF64(x: f64): void {
  const p = outReserve(FORMAT_MAX);
  outLen += formatF64(x, p);
}

/** Appends the decimal digits of v. */
export function outU64(v: u64): void {
  const p = outReserve(20);
  let n: usize = 0;
  let t = v;
  do {
    n++;
    t /= 10;
  } while (t != 0);
  for (let i = n; i > 0; i--) {
    store<u8>(p + i - 1, <u8>(0x30 + <u32>(v % 10)));
    v /= 10;
  }
  outLen += n;
}

/** Writes the whole buffer to stdout (a failed write ends the job with exit code 1). */
export function outFlush(): void {
  writeStdout(outBuf, outLen);
  outLen = 0;
}

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

// @ts-ignore: decorator
@lazy let jobPrefix: string = "job";

/** Sets the name that starts every error message. */
export function jobName(name: string): void {
  jobPrefix = name;
}

function jobStart(message: string): void {
  writeText(STDERR, jobPrefix);
  writeText(STDERR, ": ");
  writeText(STDERR, message);
}

/** "<job>: message" and a newline on stderr, then exit code 1. */
export function jobFail(message: string): void {
  jobStart(message);
  writeText(STDERR, "\n");
  exit(1);
}

/** "<job>: message (line N)" on stderr, then exit code 1. */
export function jobFailLine(message: string, line: u32): void {
  jobStart(message);
  writeText(STDERR, " (line ");
  writeU32(STDERR, line);
  writeText(STDERR, ")\n");
  exit(1);
}

/** "<job>: message "token" (reading N, line N)" on stderr, then exit code 1. */
export function jobFailToken(message: string, tok: usize, tokLen: usize, reading: u32, line: u32): void {
  jobStart(message);
  writeText(STDERR, " \"");
  writeSanitized(STDERR, tok, tokLen, 40);
  writeText(STDERR, "\" (");
  if (reading != 0) {
    writeText(STDERR, "reading ");
    writeU32(STDERR, reading);
    writeText(STDERR, ", ");
  }
  writeText(STDERR, "line ");
  writeU32(STDERR, line);
  writeText(STDERR, ")\n");
  exit(1);
}
