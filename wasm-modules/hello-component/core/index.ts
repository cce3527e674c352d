// hello-component: csv-to-json, a job built as a WebAssembly component (world
// fogmesh:job/job in wasm-modules/wit/job.wit):
//
//   export run: func(input: list<u8>) -> result<list<u8>, string>
//
// Input: CSV text (RFC 4180: comma-separated, fields optionally in double quotes with ""
// as an escaped quote, CRLF/LF/CR line ends) whose first line names the columns.
// Output (ok): a JSON array with one object per row, keys in header order, one line plus
// "\n". An unquoted field that is a JSON number (e.g. -1.5e3) is written as a number,
// everything else as a string.
// Errors (err): a one-line message, e.g. "csv-to-json: line 3 has 2 fields, the header has 3".
//
// This file is the core module of the component: it implements the canonical ABI by hand
// (see ../README.md): `run` takes the lowered list as (ptr, len) and returns a pointer to a
// 12-byte return area {u8 discriminant; u32 ptr; u32 len}; `cabi_realloc` lets the host
// allocate the input list in our memory. It imports nothing.

// --- the canonical ABI --------------------------------------------------------------------

/** Return area of `run`: result<list<u8>, string> is {u8 case @0, u32 ptr @4, u32 len @8}. */
const RET: usize = memory.data(12, 4);

/**
 * cabi_realloc(old_ptr, old_size, align, new_size): what the host calls to allocate the
 * input list in our memory. The stub runtime aligns every block to 16 bytes, more than any
 * canonical ABI alignment (at most 8), and never frees.
 */
export function cabi_realloc(oldPtr: usize, oldSize: usize, align: usize, newSize: usize): usize {
  if (align > 16) unreachable();
  if (newSize == 0) return align; // any aligned non-null pointer will do for 0 bytes
  if (oldPtr == 0 || oldSize == 0) return heap.alloc(newSize);
  return heap.realloc(oldPtr, newSize);
}

/** The lifted export `run`: input list at (ptr, len); returns RET. */
export function run(ptr: usize, len: usize): usize {
  reset(ptr, len);
  if (convert()) {
    store<u8>(RET, 0); // ok(list<u8>)
  } else {
    store<u8>(RET, 1); // err(string): the message, UTF-8 (ASCII here)
  }
  store<u32>(RET, <u32>out, 4);
  store<u32>(RET, <u32>outLen, 8);
  return RET;
}

/** `abort` (--use abort=...): out of bounds, failed assert. A trap is what the host maps it to. */
function componentAbort(message: string | null, fileName: string | null, line: u32, column: u32): void {
  unreachable();
}

// --- state of one call ------------------------------------------------------------------------

const QUOTE: u8 = 0x22;
const COMMA: u8 = 0x2c;
const LF: u8 = 0x0a;
const CR: u8 = 0x0d;
const BACKSLASH: u8 = 0x5c;

let base: usize = 0; // input as given (offsets in messages count from here)
let inp: usize = 0; // input after a byte order mark
let end: usize = 0; // input + length
let pos: usize = 0; // parse cursor
let line: u32 = 1; // physical line of `pos`

let out: usize = 0; // output (or error message) buffer
let outLen: usize = 0;
let outCap: usize = 0;

/** Fields of the current record: start, end, quoted (0/1). */
let fStart: usize = 0;
let fEnd: usize = 0;
let fQuoted: usize = 0;
let fCount: u32 = 0;
let fCap: u32 = 0;

/** Rendered keys (`"name":`) of the header, and their offsets (count + 1 entries). */
let keys: usize = 0;
let keyAt: usize = 0;
let columns: u32 = 0;

function reset(ptr: usize, len: usize): void {
  base = ptr;
  inp = ptr;
  end = ptr + len;
  pos = ptr;
  line = 1;
  out = 0;
  outLen = 0;
  outCap = 0;
  fCount = 0;
  fCap = 0;
  columns = 0;
}

// --- output buffer ----------------------------------------------------------------------------

function reserve(n: usize): void {
  const need = outLen + n;
  if (need <= outCap) return;
  let cap: usize = outCap == 0 ? 1024 : outCap;
  while (cap < need) {
    cap <<= 1;
    if (cap == 0) unreachable(); // past 4 GiB: memory would have run out first
  }
  out = out == 0 ? heap.alloc(cap) : heap.realloc(out, cap);
  outCap = cap;
}

function putByte(b: u8): void {
  reserve(1);
  store<u8>(out + outLen, b);
  outLen++;
}

function putBytes(src: usize, n: usize): void {
  reserve(n);
  memory.copy(out + outLen, src, n);
  outLen += n;
}

/** An ASCII string literal. */
function putAscii(s: string): void {
  const n = <usize>s.length;
  reserve(n);
  for (let i: usize = 0; i < n; i++) store<u8>(out + outLen + i, <u8>s.charCodeAt(<i32>i));
  outLen += n;
}

function putU32(v: u32): void {
  const digits = memory.data(10);
  let n = 0;
  do {
    store<u8>(digits + n, <u8>(0x30 + v % 10));
    v /= 10;
    n++;
  } while (v != 0);
  reserve(n);
  while (n > 0) {
    n--;
    store<u8>(out + outLen, load<u8>(digits + n));
    outLen++;
  }
}

/** Starts an error message (dropping any output so far). Returns false, for `return fail(...)`. */
function fail(message: string): bool {
  outLen = 0;
  putAscii("csv-to-json: ");
  putAscii(message);
  return false;
}

// --- the conversion ---------------------------------------------------------------------------

function isDigit(c: u8): bool {
  return c >= 0x30 && c <= 0x39;
}

/** Whether [s, e) is a JSON number: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
function isJsonNumber(s: usize, e: usize): bool {
  let i = s;
  if (i < e && load<u8>(i) == 0x2d) i++;
  if (i >= e) return false;
  const c = load<u8>(i);
  if (c == 0x30) i++;
  else if (c >= 0x31 && c <= 0x39) {
    while (i < e && isDigit(load<u8>(i))) i++;
  } else return false;
  if (i < e && load<u8>(i) == 0x2e) {
    const d = ++i;
    while (i < e && isDigit(load<u8>(i))) i++;
    if (i == d) return false;
  }
  if (i < e && (load<u8>(i) | 0x20) == 0x65) {
    i++;
    if (i < e && (load<u8>(i) == 0x2b || load<u8>(i) == 0x2d)) i++;
    const d = i;
    while (i < e && isDigit(load<u8>(i))) i++;
    if (i == d) return false;
  }
  return i == e;
}

const HEX = memory.data<u8>([48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 97, 98, 99, 100, 101, 102]);

/** Field bytes [s, e) as a JSON string, quotes included; `quoted`: "" stands for one quote. */
function putJsonString(s: usize, e: usize, quoted: bool): void {
  putByte(QUOTE);
  let run = s; // start of the bytes not yet copied
  for (let i = s; i < e; i++) {
    const c = load<u8>(i);
    if (c >= 0x20 && c != QUOTE && c != BACKSLASH) continue;
    putBytes(run, i - run);
    if (c == QUOTE) {
      putByte(BACKSLASH);
      putByte(QUOTE);
      if (quoted) i++; // "" in a quoted field is one quote
    } else if (c == BACKSLASH) {
      putByte(BACKSLASH);
      putByte(BACKSLASH);
    } else if (c == LF) putAscii("\\n");
    else if (c == CR) putAscii("\\r");
    else if (c == 0x09) putAscii("\\t");
    else {
      putAscii("\\u00");
      putByte(load<u8>(HEX + (c >> 4)));
      putByte(load<u8>(HEX + (c & 15)));
    }
    run = i + 1;
  }
  putBytes(run, e - run);
  putByte(QUOTE);
}

/** Strict UTF-8 (no overlong forms, no surrogates, at most U+10FFFF). Returns the input offset of the first bad sequence or -1. */
function badUtf8(): isize {
  let i = inp;
  while (i < end) {
    const c = <u32>load<u8>(i);
    if (c < 0x80) {
      i++;
      continue;
    }
    let n: usize = 0;
    let min: u32 = 0;
    let cp: u32 = 0;
    if ((c & 0xe0) == 0xc0) {
      n = 1;
      min = 0x80;
      cp = c & 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
      n = 2;
      min = 0x800;
      cp = c & 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
      n = 3;
      min = 0x10000;
      cp = c & 0x07;
    } else return <isize>(i - base);
    if (i + n >= end) return <isize>(i - base); // truncated sequence
    for (let k: usize = 1; k <= n; k++) {
      const cc = <u32>load<u8>(i + k);
      if ((cc & 0xc0) != 0x80) return <isize>(i - base);
      cp = (cp << 6) | (cc & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return <isize>(i - base);
    i += n + 1;
  }
  return -1;
}

function pushField(s: usize, e: usize, quoted: bool): void {
  if (fCount == fCap) {
    const cap: u32 = fCap == 0 ? 16 : fCap * 2;
    const bytes = <usize>cap * sizeof<usize>();
    fStart = fStart == 0 ? heap.alloc(bytes) : heap.realloc(fStart, bytes);
    fEnd = fEnd == 0 ? heap.alloc(bytes) : heap.realloc(fEnd, bytes);
    fQuoted = fQuoted == 0 ? heap.alloc(bytes) : heap.realloc(fQuoted, bytes);
    fCap = cap;
  }
  const at = <usize>fCount * sizeof<usize>();
  store<usize>(fStart + at, s);
  store<usize>(fEnd + at, e);
  store<usize>(fQuoted + at, quoted ? 1 : 0);
  fCount++;
}

const RECORD = 0;
const EMPTY_LINE = 1;
const BAD = 2;

/** Parses one record at `pos` (< end) into the field arrays. */
function parseRecord(): i32 {
  fCount = 0;
  let c = load<u8>(pos);
  if (c == LF || c == CR) {
    pos++;
    if (c == CR && pos < end && load<u8>(pos) == LF) pos++;
    line++;
    return EMPTY_LINE;
  }
  while (true) {
    if (pos < end && load<u8>(pos) == QUOTE) {
      const startLine = line;
      const s = ++pos;
      while (true) {
        if (pos >= end) {
          fail("unterminated quoted field (line ");
          putU32(startLine);
          putAscii(")");
          return BAD;
        }
        c = load<u8>(pos);
        if (c == QUOTE) {
          if (pos + 1 < end && load<u8>(pos + 1) == QUOTE) {
            pos += 2;
            continue;
          }
          break;
        }
        if (c == LF || (c == CR && !(pos + 1 < end && load<u8>(pos + 1) == LF))) line++;
        pos++;
      }
      pushField(s, pos, true);
      pos++; // the closing quote
      if (pos < end) {
        c = load<u8>(pos);
        if (c != COMMA && c != LF && c != CR) {
          fail("unexpected character after a closing quote (line ");
          putU32(line);
          putAscii(")");
          return BAD;
        }
      }
    } else {
      const s = pos;
      while (pos < end) {
        c = load<u8>(pos);
        if (c == COMMA || c == LF || c == CR) break;
        pos++;
      }
      pushField(s, pos, false);
    }
    if (pos >= end) return RECORD;
    c = load<u8>(pos++);
    if (c == COMMA) continue;
    if (c == CR && pos < end && load<u8>(pos) == LF) pos++;
    line++;
    return RECORD;
  }
  return RECORD; // not reached
}

/** FNV-1a of the bytes [s, s + n). */
function hash(s: usize, n: usize): u32 {
  let h: u32 = 0x811c9dc5;
  for (let i: usize = 0; i < n; i++) h = (h ^ load<u8>(s + i)) * 0x01000193;
  return h;
}

/** Renders the header's keys as `"name":` and rejects duplicates. */
function takeHeader(): bool {
  columns = fCount;
  // render into the output buffer, then move it aside
  for (let k: u32 = 0; k < columns; k++) {
    const at = <usize>k * sizeof<usize>();
    putJsonString(load<usize>(fStart + at), load<usize>(fEnd + at), load<usize>(fQuoted + at) != 0);
    putByte(0x3a); // ':'
    pushKeyEnd(k);
  }
  keys = out;
  out = 0;
  outLen = 0;
  outCap = 0;
  // duplicates: open addressing over key indexes + 1
  let size: u32 = 16;
  while (size < columns * 2) size <<= 1;
  const table = heap.alloc(<usize>size * 4);
  memory.fill(table, 0, <usize>size * 4);
  for (let k: u32 = 0; k < columns; k++) {
    const s = keys + keyStart(k);
    const n = keyStart(k + 1) - keyStart(k);
    let slot = hash(s, n) & (size - 1);
    while (true) {
      const other = load<u32>(table + <usize>slot * 4);
      if (other == 0) {
        store<u32>(table + <usize>slot * 4, k + 1);
        break;
      }
      const os = keys + keyStart(other - 1);
      const on = keyStart(other) - keyStart(other - 1);
      if (on == n && memory.compare(os, s, n) == 0) {
        fail("duplicate column name (columns ");
        putU32(other);
        putAscii(" and ");
        putU32(k + 1);
        putAscii(")");
        return false;
      }
      slot = (slot + 1) & (size - 1);
    }
  }
  return true;
}

function pushKeyEnd(k: u32): void {
  if (k == 0) {
    keyAt = heap.alloc(<usize>(columns + 1) * 4);
    store<u32>(keyAt, 0);
  }
  store<u32>(keyAt + <usize>(k + 1) * 4, <u32>outLen);
}

function keyStart(k: u32): usize {
  return <usize>load<u32>(keyAt + <usize>k * 4);
}

function convert(): bool {
  // a UTF-8 byte order mark is skipped
  if (end - inp >= 3 && load<u8>(inp) == 0xef && load<u8>(inp + 1) == 0xbb && load<u8>(inp + 2) == 0xbf) inp += 3;
  pos = inp;
  const bad = badUtf8();
  if (bad >= 0) {
    fail("input is not UTF-8 (byte ");
    putU32(<u32>bad);
    putAscii(")");
    return false;
  }
  // the header: the first non-empty line
  while (true) {
    if (pos >= end) return fail("no header line");
    const r = parseRecord();
    if (r == BAD) return false;
    if (r == RECORD) break;
  }
  if (!takeHeader()) return false;

  putByte(0x5b); // '['
  let rows: u32 = 0;
  while (pos < end) {
    const recordLine = line;
    const r = parseRecord();
    if (r == BAD) return false;
    if (r == EMPTY_LINE) continue;
    if (fCount != columns) {
      fail("line ");
      putU32(recordLine);
      putAscii(" has ");
      putU32(fCount);
      putAscii(fCount == 1 ? " field, the header has " : " fields, the header has ");
      putU32(columns);
      return false;
    }
    if (rows > 0) putByte(COMMA);
    putByte(0x7b); // '{'
    for (let k: u32 = 0; k < columns; k++) {
      if (k > 0) putByte(COMMA);
      putBytes(keys + keyStart(k), keyStart(k + 1) - keyStart(k));
      const at = <usize>k * sizeof<usize>();
      const s = load<usize>(fStart + at);
      const e = load<usize>(fEnd + at);
      const quoted = load<usize>(fQuoted + at) != 0;
      if (!quoted && isJsonNumber(s, e)) putBytes(s, e - s);
      else putJsonString(s, e, quoted);
    }
    putByte(0x7d); // '}'
    rows++;
  }
  putByte(0x5d); // ']'
  putByte(LF);
  return true;
}
