// aqi: the US EPA Air Quality Index from PM2.5 and PM10 concentrations (24-hour averages,
// µg/m³), with the breakpoints of the 2024 PM NAAQS revision (in effect since May 6, 2024).
//
// stdin:  one reading per line, `pm25=12.3 pm10=40` (either key may be left out, in any
//         order, separated by spaces, tabs or commas). Blank lines are skipped.
// Per pollutant: the concentration is truncated (PM2.5 to 0.1, PM10 to 1 µg/m³), the
// breakpoint row Clo..Chi that contains it gives Ilo..Ihi, and
//         I = (Ihi - Ilo) / (Chi - Clo) * (C - Clo) + Ilo, rounded to the nearest whole number
// (halves up). A reading's AQI is the larger sub-index; its pollutant is `dominant` (pm25
// on a tie). Above the top breakpoint (PM2.5 > 325.4, PM10 > 604) the top row's line is
// extended ("Beyond the AQI", over 500) and the reading gets "beyond":true.
// All arithmetic is exact: concentrations are read from the text as whole tenths / units,
// so no floating point rounding can move a value across a breakpoint.
// stdout: one line of JSON:
//   {"count":N,"readings":[{"pm25":35.4,"pm25_aqi":100,"pm10":40,"pm10_aqi":37,"aqi":100,
//    "category":"Moderate","dominant":"pm25"},...],
//    "overall":{"aqi":100,"category":"Moderate","dominant":"pm25","index":0}}
//   `overall` is the worst reading (the first with the highest AQI), index 0-based.
// Errors (exit code 1, message on stderr): negative or malformed concentration, one of
// 1,000,000 µg/m³ or more, an unknown or repeated key on a line, no readings.
import { STDIN, readAll, readAllLength } from "wasi_job";
import {
  scanInit, scanNext, scanTok, scanTokLen, scanLine, scanEquals, tokenIs,
  outInit, outByte, outAscii, outU64, outFlush, jobName, jobFail, jobFailToken,
} from "job_text";

jobName("aqi");

// ---------------------------------------------------------------------------
// Breakpoints (EPA Technical Assistance Document EPA-454/B-24-002, May 2024, Table 6)
// ---------------------------------------------------------------------------

// AQI rows: 0-50 Good, 51-100 Moderate, 101-150 Unhealthy for Sensitive Groups,
// 151-200 Unhealthy, 201-300 Very Unhealthy, 301-500 Hazardous.
// @ts-ignore: decorator
const I_LO: usize = memory.data<i32>([0, 51, 101, 151, 201, 301]);
// @ts-ignore: decorator
const I_HI: usize = memory.data<i32>([50, 100, 150, 200, 300, 500]);
// PM2.5 in tenths of µg/m³: 0.0-9.0, 9.1-35.4, 35.5-55.4, 55.5-125.4, 125.5-225.4, 225.5-325.4
// @ts-ignore: decorator
const PM25_LO: usize = memory.data<i32>([0, 91, 355, 555, 1255, 2255]);
// @ts-ignore: decorator
const PM25_HI: usize = memory.data<i32>([90, 354, 554, 1254, 2254, 3254]);
// PM10 in µg/m³: 0-54, 55-154, 155-254, 255-354, 355-424, 425-604
// @ts-ignore: decorator
const PM10_LO: usize = memory.data<i32>([0, 55, 155, 255, 355, 425]);
// @ts-ignore: decorator
const PM10_HI: usize = memory.data<i32>([54, 154, 254, 354, 424, 604]);
const ROWS: i32 = 6;

let beyond = false;

/** The sub-index of concentration c (in the table's unit); sets `beyond` above the table. */
function subIndex(c: i64, lo: usize, hi: usize): i64 {
  let k: i32 = 0;
  while (k < ROWS - 1 && c > <i64>load<i32>(hi + (<usize>k << 2))) k++;
  const cLo = <i64>load<i32>(lo + (<usize>k << 2));
  const cHi = <i64>load<i32>(hi + (<usize>k << 2));
  const iLo = <i64>load<i32>(I_LO + (<usize>k << 2));
  const iHi = <i64>load<i32>(I_HI + (<usize>k << 2));
  if (c > cHi) beyond = true;
  const num = (iHi - iLo) * (c - cLo);
  const den = cHi - cLo;
  return iLo + (2 * num + den) / (2 * den); // round half up (num >= 0)
}

function category(aqi: i64): string {
  if (aqi <= 50) return "Good";
  if (aqi <= 100) return "Moderate";
  if (aqi <= 150) return "Unhealthy for Sensitive Groups";
  if (aqi <= 200) return "Unhealthy";
  if (aqi <= 300) return "Very Unhealthy";
  return "Hazardous";
}

// ---------------------------------------------------------------------------
// Concentrations: plain decimals, truncated
// ---------------------------------------------------------------------------

const MAX_INT_DIGITS = 6; // up to 999999.9 µg/m³

/**
 * The concentration text [p, p + len) truncated to tenths (as a whole number of tenths), or
 * fails the job. Grammar: digits [. digits] or . digits; no sign, no exponent.
 */
function parseTenths(p: usize, len: usize, tok: usize, tokLen: usize, line: u32): i64 {
  if (len > 0 && load<u8>(p) == 0x2D) jobFailToken("negative concentration", tok, tokLen, 0, line);
  let i: usize = 0;
  let whole: i64 = 0;
  let intDigits = 0;
  let sawDigit = false;
  while (i < len) {
    const d = <u32>load<u8>(p + i) - 0x30;
    if (d >= 10) break;
    sawDigit = true;
    if (whole != 0 || d != 0) intDigits++;
    if (intDigits > MAX_INT_DIGITS) jobFailToken("concentration out of range (1000000 or more)", tok, tokLen, 0, line);
    whole = whole * 10 + <i64>d;
    i++;
  }
  let tenth: i64 = 0;
  if (i < len && load<u8>(p + i) == 0x2E) {
    i++;
    let fracDigits = 0;
    while (i < len) {
      const d = <u32>load<u8>(p + i) - 0x30;
      if (d >= 10) break;
      if (fracDigits == 0) tenth = <i64>d;
      fracDigits++;
      sawDigit = true;
      i++;
    }
  }
  if (!sawDigit || i != len) jobFailToken("not a concentration", tok, tokLen, 0, line);
  return whole * 10 + tenth;
}

// ---------------------------------------------------------------------------
// Input: readings into an array of (pm25 tenths, pm10 units) pairs, -1 = not given
// ---------------------------------------------------------------------------

const input = readAll(STDIN);
scanInit(input, readAllLength);

let cap: usize = 256;
let pairs = heap.alloc(cap << 4);
let count: usize = 0;
let curLine: u32 = 0;
let pm25: i64 = -1;
let pm10: i64 = -1;

function endReading(): void {
  if (pm25 < 0 && pm10 < 0) return;
  if (count == cap) {
    cap <<= 1;
    pairs = heap.realloc(pairs, cap << 4);
  }
  store<i64>(pairs + (count << 4), pm25);
  store<i64>(pairs + (count << 4), pm10, 8);
  count++;
  pm25 = -1;
  pm10 = -1;
}

while (scanNext()) {
  const tok = scanTok;
  const len = scanTokLen;
  if (scanLine != curLine) {
    endReading(); // a new line starts a new reading
    curLine = scanLine;
  }
  const eq = scanEquals();
  if (eq < 0) jobFailToken("expected pm25=C or pm10=C, got", tok, len, 0, scanLine);
  const keyLen = <usize>eq;
  const val = tok + keyLen + 1;
  const valLen = len - keyLen - 1;
  if (tokenIs(tok, keyLen, "pm25")) {
    if (pm25 >= 0) jobFailToken("pm25 given twice on one line", tok, len, 0, scanLine);
    pm25 = parseTenths(val, valLen, tok, len, scanLine);
  } else if (tokenIs(tok, keyLen, "pm10")) {
    if (pm10 >= 0) jobFailToken("pm10 given twice on one line", tok, len, 0, scanLine);
    pm10 = parseTenths(val, valLen, tok, len, scanLine) / 10; // truncated to whole µg/m³
  } else {
    jobFailToken("unknown pollutant (expected pm25= or pm10=)", tok, len, 0, scanLine);
  }
}
endReading();

if (count == 0) jobFail("no readings in input (expected lines like pm25=12.3 pm10=40)");

// ---------------------------------------------------------------------------
// Output
// ---------------------------------------------------------------------------

function putTenths(t: i64): void {
  outU64(<u64>(t / 10));
  if (t % 10 != 0) {
    outByte(0x2E);
    outByte(0x30 + <u32>(t % 10));
  }
}

function putCategory(aqi: i64, dom25: bool): void {
  outAscii(",\"category\":\"");
  outAscii(category(aqi));
  outAscii(dom25 ? "\",\"dominant\":\"pm25\"" : "\",\"dominant\":\"pm10\"");
}

let worstAqi: i64 = -1;
let worstIndex: usize = 0;
let worstDom25 = true;
let worstBeyond = false;

outInit(count * 96 + 128);
outAscii("{\"count\":");
outU64(<u64>count);
outAscii(",\"readings\":[");
for (let i: usize = 0; i < count; i++) {
  const c25 = load<i64>(pairs + (i << 4));
  const c10 = load<i64>(pairs + (i << 4), 8);
  beyond = false;
  const a25: i64 = c25 >= 0 ? subIndex(c25, PM25_LO, PM25_HI) : -1;
  const a10: i64 = c10 >= 0 ? subIndex(c10, PM10_LO, PM10_HI) : -1;
  const dom25 = a25 >= a10;
  const aqi = dom25 ? a25 : a10;
  if (i != 0) outByte(0x2C);
  outByte(0x7B);
  if (c25 >= 0) {
    outAscii("\"pm25\":");
    putTenths(c25);
    outAscii(",\"pm25_aqi\":");
    outU64(<u64>a25);
    if (c10 >= 0) outByte(0x2C);
  }
  if (c10 >= 0) {
    outAscii("\"pm10\":");
    outU64(<u64>c10);
    outAscii(",\"pm10_aqi\":");
    outU64(<u64>a10);
  }
  outAscii(",\"aqi\":");
  outU64(<u64>aqi);
  putCategory(aqi, dom25);
  if (beyond) outAscii(",\"beyond\":true");
  outByte(0x7D);
  if (aqi > worstAqi) {
    worstAqi = aqi;
    worstIndex = i;
    worstDom25 = dom25;
    worstBeyond = beyond;
  }
}
outAscii("],\"overall\":{\"aqi\":");
outU64(<u64>worstAqi);
putCategory(worstAqi, worstDom25);
if (worstBeyond) outAscii(",\"beyond\":true");
outAscii(",\"index\":");
outU64(<u64>worstIndex);
outAscii("}}\n");
outFlush();
