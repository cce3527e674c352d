// downsample: shrinks a series of sensor readings for storage or display.
//
// stdin:  settings, then numbers separated by newlines, commas and/or whitespace. Settings
//         are `name=value` tokens before the first reading (on one line or several):
//           mode=mean|min|max|last   fixed buckets (default mean); needs every=N
//           every=N                  bucket size, N >= 1 readings
//           mode=lttb                Largest-Triangle-Three-Buckets; needs target=M
//           target=M                 M >= 2 points to keep
// Bucket modes: readings 0..N-1 form bucket 0, N..2N-1 bucket 1, and so on; each bucket
// becomes one value (mean = sum / size, summed in order). A last bucket with fewer than N
// readings is included, computed over the readings it has, and flagged "partial":true.
//   {"count":10,"every":4,"mode":"mean","values":[2.5,6.5,9.5],"partial":true}
// LTTB (Steinarsson 2013, the reference algorithm): x is the reading's index; keeps the
// first and last readings and, from each of the M - 2 buckets in between, the reading that
// forms the largest triangle with the previously kept point and the next bucket's average.
// With M >= count every reading is kept.
//   {"count":10,"target":4,"mode":"lttb","points":[[0,1],[2,9],[5,-2],[9,4]]}
//   (input "mode=lttb target=4\n1 2 9 3 4 -2 5 6 7 4")
// Numbers print like JavaScript's JSON.stringify.
// Errors (exit code 1, message on stderr): a token that is not a number, a number that
// overflows a double, no readings, a bad, repeated, missing or mismatched setting, a mean
// that overflows.
import { STDIN, readAll, readAllLength } from "wasi_job";
import { parseF64, parsedF64, PARSE_OK, PARSE_RANGE } from "f64text";
import {
  scanInit, scanNext, scanTok, scanTokLen, scanLine, scanEquals, tokenIs, parseWhole,
  outInit, outByte, outAscii, outF64, outU64, outFlush, jobName, jobFail, jobFailLine, jobFailToken,
} from "job_text";

jobName("downsample");

const MODE_MEAN = 0;
const MODE_MIN = 1;
const MODE_MAX = 2;
const MODE_LAST = 3;
const MODE_LTTB = 4;

// ---------------------------------------------------------------------------
// Input
// ---------------------------------------------------------------------------

const input = readAll(STDIN);
scanInit(input, readAllLength);

let mode = -1; // not given: mean
let every: i64 = -1;
let target: i64 = -1;
let settingsLine: u32 = 1;

let cap: usize = 1024;
let xs = heap.alloc(cap << 3);
let count: usize = 0;

while (scanNext()) {
  const tok = scanTok;
  const len = scanTokLen;
  if (count == 0) {
    const eq = scanEquals();
    if (eq >= 0) {
      const keyLen = <usize>eq;
      const val = tok + keyLen + 1;
      const valLen = len - keyLen - 1;
      settingsLine = scanLine;
      if (tokenIs(tok, keyLen, "mode")) {
        if (mode >= 0) jobFailLine("mode= is given twice", scanLine);
        if (tokenIs(val, valLen, "mean")) mode = MODE_MEAN;
        else if (tokenIs(val, valLen, "min")) mode = MODE_MIN;
        else if (tokenIs(val, valLen, "max")) mode = MODE_MAX;
        else if (tokenIs(val, valLen, "last")) mode = MODE_LAST;
        else if (tokenIs(val, valLen, "lttb")) mode = MODE_LTTB;
        else jobFailToken("unknown mode (expected mean, min, max, last or lttb)", tok, len, 0, scanLine);
      } else if (tokenIs(tok, keyLen, "every")) {
        if (every >= 0) jobFailLine("every= is given twice", scanLine);
        every = parseWhole(val, valLen);
        if (every < 1) jobFailLine("invalid setting: expected every=N with a whole number N >= 1", scanLine);
      } else if (tokenIs(tok, keyLen, "target")) {
        if (target >= 0) jobFailLine("target= is given twice", scanLine);
        target = parseWhole(val, valLen);
        if (target < 2) jobFailLine("invalid setting: expected target=M with a whole number M >= 2", scanLine);
      } else {
        jobFailToken("unknown setting (expected mode=, every= or target=)", tok, len, 0, scanLine);
      }
      continue;
    }
  }
  const status = parseF64(tok, len);
  if (status != PARSE_OK) {
    jobFailToken(status == PARSE_RANGE ? "number out of range" : "not a number", tok, len, <u32>(count + 1), scanLine);
  }
  if (count == cap) {
    cap <<= 1;
    xs = heap.realloc(xs, cap << 3);
  }
  store<f64>(xs + (count << 3), parsedF64);
  count++;
}

if (mode < 0) mode = MODE_MEAN;
if (mode == MODE_LTTB) {
  if (target < 0) jobFailLine("mode=lttb needs target=M (the number of points to keep)", settingsLine);
  if (every >= 0) jobFailLine("every= is not used with mode=lttb (use target=M)", settingsLine);
} else {
  if (every < 0) jobFailLine("every=N (the bucket size) is required", settingsLine);
  if (target >= 0) jobFailLine("target= is only used with mode=lttb", settingsLine);
}
if (count == 0) jobFail("no readings in input");

// @ts-ignore: decorator
@inline function x(i: usize): f64 {
  return load<f64>(xs + (i << 3));
}

// ---------------------------------------------------------------------------
// Fixed buckets
// ---------------------------------------------------------------------------

function buckets(n: usize): void {
  outAscii(",\"every\":");
  outU64(<u64>n);
  outAscii(",\"mode\":\"");
  outAscii(mode == MODE_MEAN ? "mean" : mode == MODE_MIN ? "min" : mode == MODE_MAX ? "max" : "last");
  outAscii("\",\"values\":[");
  for (let start: usize = 0; start < count; start += n) {
    const end = min<usize>(start + n, count);
    let v = x(start);
    if (mode == MODE_MEAN) {
      let s: f64 = 0;
      for (let i = start; i < end; i++) s += x(i);
      v = s / <f64>(end - start);
      if (!isFinite(v)) jobFail("result is not finite: a bucket's sum overflows double precision");
    } else if (mode == MODE_MIN) {
      for (let i = start + 1; i < end; i++) if (x(i) < v) v = x(i);
    } else if (mode == MODE_MAX) {
      for (let i = start + 1; i < end; i++) if (x(i) > v) v = x(i);
    } else {
      v = x(end - 1);
    }
    if (start != 0) outByte(0x2C);
    outF64(v);
  }
  outAscii("],\"partial\":");
  outAscii(count % n != 0 ? "true}\n" : "false}\n");
}

// ---------------------------------------------------------------------------
// LTTB
// ---------------------------------------------------------------------------

function point(i: usize, first: bool): void {
  if (!first) outByte(0x2C);
  outByte(0x5B);
  outU64(<u64>i);
  outByte(0x2C);
  outF64(x(i));
  outByte(0x5D);
}

function lttb(m: usize): void {
  outAscii(",\"target\":");
  outU64(<u64>m);
  outAscii(",\"mode\":\"lttb\",\"points\":[");
  if (m >= count) {
    for (let i: usize = 0; i < count; i++) point(i, i == 0);
  } else {
    // m >= 2 and count > m >= 2, so count >= 3
    const bucket = <f64>(count - 2) / <f64>(m - 2); // Infinity for m == 2: no middle buckets
    let a: usize = 0;
    point(0, true);
    for (let b: usize = 0; b + 2 < m; b++) {
      // the average of the next bucket (the last point when this is the last bucket)
      let avgStart = <usize>Math.floor(<f64>(b + 1) * bucket) + 1;
      let avgEnd = min<usize>(<usize>Math.floor(<f64>(b + 2) * bucket) + 1, count);
      const avgLen = <f64>(avgEnd - avgStart);
      let avgX: f64 = 0;
      let avgY: f64 = 0;
      for (let i = avgStart; i < avgEnd; i++) {
        avgX += <f64>i;
        avgY += x(i);
      }
      avgX /= avgLen;
      avgY /= avgLen;
      // this bucket's point with the largest triangle (a, point, average)
      const from = <usize>Math.floor(<f64>b * bucket) + 1;
      const to = <usize>Math.floor(<f64>(b + 1) * bucket) + 1;
      const ax = <f64>a;
      const ay = x(a);
      let maxArea: f64 = -1;
      let next = from;
      for (let i = from; i < to; i++) {
        const area = Math.abs((ax - avgX) * (x(i) - ay) - (ax - <f64>i) * (avgY - ay)) * 0.5;
        if (area > maxArea) {
          maxArea = area;
          next = i;
        }
      }
      if (!isFinite(maxArea)) jobFail("result is not finite: the readings are too large for double precision");
      point(next, false);
      a = next;
    }
    point(count - 1, false);
  }
  outAscii("]}\n");
}

// ---------------------------------------------------------------------------
// Output
// ---------------------------------------------------------------------------

outInit(256);
outAscii("{\"count\":");
outU64(<u64>count);
if (mode == MODE_LTTB) lttb(<usize>target);
else buckets(<usize>every);
outFlush();
