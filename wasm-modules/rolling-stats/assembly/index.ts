// rolling-stats: summary statistics over sensor readings.
//
// stdin:  numbers separated by newlines, commas and/or whitespace, e.g. "21.5\n22.1\n21.9".
//         An optional first line `window=N` (N >= 1) restricts the statistics to the last N
//         readings. Runs of separators count as one ("1,,2" is two readings).
// stdout: one line of JSON:
//         {"count":3,"mean":21.833333333333332,"min":21.5,"max":22.1,"stddev":0.24944382578492988,"last":21.9}
//         count = readings used, stddev = population standard deviation (Welford's algorithm),
//         last = the most recent reading. Numbers are printed exactly like JavaScript's
//         JSON.stringify would print the same f64 values.
// Errors (exit code 1, message on stderr): a token that is not a decimal number, a number
// that overflows a double, no readings at all, a bad `window=` line, or a result that is
// not finite (values so large the sums overflow).
import { STDIN, STDERR, readAll, readAllLength, writeStdout, writeText, writeU32, writeSanitized, exit } from "wasi_job";
import { parseF64, parsedF64, PARSE_OK, PARSE_RANGE, formatF64 } from "f64text";

const C_TAB: u8 = 0x09;
const C_LF: u8 = 0x0A;
const C_CR: u8 = 0x0D;
const C_SPACE: u8 = 0x20;
const C_COMMA: u8 = 0x2C;

// @ts-ignore: decorator
@inline function isSeparator(c: u8): bool {
  return c == C_SPACE || c == C_LF || c == C_COMMA || c == C_TAB || c == C_CR || c == 0x0B || c == 0x0C;
}

function failLine(message: string, line: u32): void {
  writeText(STDERR, "rolling-stats: ");
  writeText(STDERR, message);
  writeText(STDERR, " (line ");
  writeU32(STDERR, line);
  writeText(STDERR, ")\n");
  exit(1);
}

function failToken(message: string, tok: usize, tokLen: usize, reading: u32, line: u32): void {
  writeText(STDERR, "rolling-stats: ");
  writeText(STDERR, message);
  writeText(STDERR, " \"");
  writeSanitized(STDERR, tok, tokLen, 40);
  writeText(STDERR, "\" (reading ");
  writeU32(STDERR, reading);
  writeText(STDERR, ", line ");
  writeU32(STDERR, line);
  writeText(STDERR, ")\n");
  exit(1);
}

function failPlain(message: string): void {
  writeText(STDERR, "rolling-stats: ");
  writeText(STDERR, message);
  writeText(STDERR, "\n");
  exit(1);
}

// ---------------------------------------------------------------------------
// Input
// ---------------------------------------------------------------------------

const input = readAll(STDIN);
const end = input + readAllLength;
let pos = input;
let line: u32 = 1;

// UTF-8 byte order mark
if (readAllLength >= 3 && load<u8>(pos) == 0xEF && load<u8>(pos + 1) == 0xBB && load<u8>(pos + 2) == 0xBF) pos += 3;

// Leading blank lines / whitespace
while (pos < end) {
  const c = load<u8>(pos);
  if (c == C_LF) line++;
  else if (c != C_SPACE && c != C_TAB && c != C_CR) break;
  pos++;
}

// Optional header `window=N`
let windowSize: u64 = 0; // 0 = all readings
if (end - pos >= 7 &&
    load<u32>(pos) == 0x646E6977 &&       // "wind"
    load<u16>(pos + 4) == 0x776F &&       // "ow"
    load<u8>(pos + 6) == 0x3D) {          // "="
  pos += 7;
  while (pos < end && (load<u8>(pos) == C_SPACE || load<u8>(pos) == C_TAB)) pos++;
  let digits = 0;
  while (pos < end) {
    const d = <u32>load<u8>(pos) - 0x30;
    if (d >= 10) break;
    if (windowSize < 0xFFFFFFFF) windowSize = windowSize * 10 + d; // larger = no limit anyway
    digits++;
    pos++;
  }
  while (pos < end && (load<u8>(pos) == C_SPACE || load<u8>(pos) == C_TAB || load<u8>(pos) == C_CR)) pos++;
  if (digits == 0 || windowSize == 0 || (pos < end && load<u8>(pos) != C_LF)) {
    failLine("invalid header: expected `window=N` with a whole number N >= 1 on a line of its own", line);
  }
}

// Readings, into a growable f64 array (the last heap block, so it grows in place).
let cap: usize = 256;
let values = heap.alloc(cap << 3);
let count: usize = 0;

while (true) {
  while (pos < end) {
    const c = load<u8>(pos);
    if (!isSeparator(c)) break;
    if (c == C_LF) line++;
    pos++;
  }
  if (pos >= end) break;
  const tok = pos;
  while (pos < end && !isSeparator(load<u8>(pos))) pos++;
  const tokLen = pos - tok;
  const status = parseF64(tok, tokLen);
  if (status != PARSE_OK) {
    failToken(
      status == PARSE_RANGE ? "number out of range" : "not a number",
      tok, tokLen, <u32>(count + 1), line
    );
  }
  if (count == cap) {
    cap <<= 1;
    values = heap.realloc(values, cap << 3);
  }
  store<f64>(values + (count << 3), parsedF64);
  count++;
}

if (count == 0) failPlain("no readings in input");

// ---------------------------------------------------------------------------
// Statistics over the last `n` readings
// ---------------------------------------------------------------------------

let n = count;
if (windowSize != 0 && windowSize < <u64>count) n = <usize>windowSize;
const first = values + ((count - n) << 3);

// Welford's online algorithm: numerically stable single pass.
let mean: f64 = 0;
let m2: f64 = 0;
let lo: f64 = Infinity;
let hi: f64 = -Infinity;
for (let i: usize = 0; i < n; i++) {
  const x = load<f64>(first + (i << 3));
  const delta = x - mean;
  mean += delta / <f64>(i + 1);
  m2 += delta * (x - mean);
  if (x < lo) lo = x;
  if (x > hi) hi = x;
}
const stddev = Math.sqrt(m2 / <f64>n);
const last = load<f64>(values + ((count - 1) << 3));

if (!isFinite(mean) || !isFinite(stddev)) {
  failPlain("result is not finite: the readings are too large for double precision sums");
}

// ---------------------------------------------------------------------------
// Output: one line of JSON
// ---------------------------------------------------------------------------

const out = heap.alloc(256);
let op = out;

function putAscii(s: string): void {
  for (let i = 0; i < s.length; i++) store<u8>(op++, <u8>s.charCodeAt(i));
}

function putNumber(x: f64): void {
  op += formatF64(x, op);
}

putAscii("{\"count\":");
putNumber(<f64>n); // an integer below 2^53 prints as plain digits
putAscii(",\"mean\":");
putNumber(mean);
putAscii(",\"min\":");
putNumber(lo);
putAscii(",\"max\":");
putNumber(hi);
putAscii(",\"stddev\":");
putNumber(stddev);
putAscii(",\"last\":");
putNumber(last);
putAscii("}\n");

writeStdout(out, op - out);
