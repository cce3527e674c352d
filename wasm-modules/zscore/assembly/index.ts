// zscore: z-score anomaly detection over a sliding window of sensor readings.
//
// stdin:  optional settings, then numbers separated by newlines, commas and/or whitespace.
//         Settings are `name=value` tokens before the first reading (on one line or several):
//           window=N     N >= 2 readings in the window (default 30)
//           threshold=T  T > 0 (default 3)
// For every reading i >= window, with mean and population stddev of the `window` readings
// just before it (i - window .. i - 1):
//           z = (x[i] - mean) / stddev
// and reading i is an anomaly when |z| > threshold. When the window's stddev is 0 (all its
// readings equal), z is not computed for that reading and it is never an anomaly.
// stdout: one line of JSON:
//   {"count":N,"window":W,"threshold":T,"anomalies":[{"index":i,"value":x,"z":z},...]}
//   index is 0-based, numbers print like JavaScript's JSON.stringify.
// Errors (exit code 1, message on stderr): a token that is not a number, a number that
// overflows a double, no readings, a bad or repeated setting, a non-finite result.
//
// Cost: O(1) per reading. The window's mean and sum of squared deviations (M2) slide with
// Welford's add/remove update, and are recomputed from scratch (two-pass) every `window`
// readings, so rounding errors cannot build up for more than one window. A constant window
// is recognised from the run of equal readings, not from the slid M2 (which can come out as
// 2.5e-17 instead of 0).
import { STDIN, readAll, readAllLength } from "wasi_job";
import { parseF64, parsedF64, PARSE_OK, PARSE_RANGE } from "f64text";
import {
  scanInit, scanNext, scanTok, scanTokLen, scanLine, scanEquals, tokenIs, parseWhole,
  outInit, outAscii, outF64, outU64, outFlush, jobName, jobFail, jobFailLine, jobFailToken,
} from "job_text";

jobName("zscore");

// ---------------------------------------------------------------------------
// Input
// ---------------------------------------------------------------------------

const input = readAll(STDIN);
scanInit(input, readAllLength);

let windowSize: u32 = 30;
let threshold: f64 = 3;
let haveWindow = false;
let haveThreshold = false;

let cap: usize = 1024;
let xs = heap.alloc(cap << 3);
let count: usize = 0;

while (scanNext()) {
  const tok = scanTok;
  const len = scanTokLen;
  if (count == 0) {
    const eq = scanEquals();
    if (eq >= 0) {
      const key = tok;
      const keyLen = <usize>eq;
      const val = tok + keyLen + 1;
      const valLen = len - keyLen - 1;
      if (tokenIs(key, keyLen, "window")) {
        if (haveWindow) jobFailLine("window= is given twice", scanLine);
        const v = parseWhole(val, valLen);
        if (v < 2) jobFailLine("invalid setting: expected window=N with a whole number N >= 2", scanLine);
        windowSize = <u32>v;
        haveWindow = true;
      } else if (tokenIs(key, keyLen, "threshold")) {
        if (haveThreshold) jobFailLine("threshold= is given twice", scanLine);
        if (parseF64(val, valLen) != PARSE_OK || !(parsedF64 > 0)) {
          jobFailLine("invalid setting: expected threshold=T with a number T > 0", scanLine);
        }
        threshold = parsedF64;
        haveThreshold = true;
      } else {
        jobFailToken("unknown setting (expected window=N or threshold=T)", tok, len, 0, scanLine);
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

if (count == 0) jobFail("no readings in input");

// ---------------------------------------------------------------------------
// Sliding window statistics
// ---------------------------------------------------------------------------

// @ts-ignore: decorator
@inline function x(i: usize): f64 {
  return load<f64>(xs + (i << 3));
}

const W = <usize>windowSize;
const fw = <f64>windowSize;
// The statistics are of the readings minus a reference k (the first reading of the window at
// the last recomputation): readings on a large offset (1e6 + small noise) then lose no
// precision to it in the sliding update. M2 does not depend on k; the mean is mean + k.
let k: f64 = 0;
let mean: f64 = 0; // of x - k
let m2: f64 = 0;

/** Two-pass mean and M2 of x[start .. start + W), relative to k = x[start]. */
function recompute(start: usize): void {
  k = x(start);
  let s: f64 = 0;
  for (let j = start; j < start + W; j++) s += x(j) - k;
  const mu = s / fw;
  let q: f64 = 0;
  for (let j = start; j < start + W; j++) {
    const d = (x(j) - k) - mu;
    q += d * d;
  }
  mean = mu;
  m2 = q;
}

function notFinite(): void {
  jobFail("result is not finite: the readings are too large for double precision");
}

outInit(256);
outAscii("{\"count\":");
outU64(<u64>count);
outAscii(",\"window\":");
outU64(<u64>W);
outAscii(",\"threshold\":");
outF64(threshold);
outAscii(",\"anomalies\":[");

if (count > W) {
  // run = how many equal readings end at index i - 1; the window is constant when run >= W.
  let run: usize = 1;
  for (let j: usize = 1; j < W; j++) run = x(j) == x(j - 1) ? run + 1 : 1;
  let first = true;
  for (let i = W; i < count; i++) {
    // the window is x[i - W .. i - 1]
    if (i == W || (i - W) % W == 0) {
      recompute(i - W);
    } else {
      const xo = x(i - W - 1) - k; // leaves the window
      const xn = x(i - 1) - k; // enters it
      const newMean = mean + (xn - xo) / fw;
      m2 += (xn - xo) * (xn - newMean + xo - mean);
      mean = newMean;
    }
    if (i > W) run = x(i - 1) == x(i - 2) ? run + 1 : 1;
    if (!isFinite(mean) || !isFinite(m2)) notFinite();
    if (run >= W || m2 <= 0) continue; // stddev 0: no z for this reading
    const sd = Math.sqrt(m2 / fw);
    const v = x(i);
    const z = ((v - k) - mean) / sd;
    if (!isFinite(z)) notFinite();
    if (Math.abs(z) > threshold) {
      if (!first) outAscii(",");
      first = false;
      outAscii("{\"index\":");
      outU64(<u64>i);
      outAscii(",\"value\":");
      outF64(v);
      outAscii(",\"z\":");
      outF64(z);
      outAscii("}");
    }
  }
}

outAscii("]}\n");
outFlush();
