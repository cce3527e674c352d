// Exact decimal text <-> f64 conversion for jobs, on raw UTF-8 bytes.
//
//   parseF64(ptr, len)   decimal text -> f64, correctly rounded (round half to even),
//                        like JavaScript's Number() on the accepted grammar
//   formatF64(x, out)    f64 -> the same text as JavaScript's String(x) / JSON.stringify(x):
//                        the shortest digits that parse back to exactly x
//
// Why not AssemblyScript's own parseFloat / f64.toString: parseFloat works on UTF-16 strings
// and is not correctly rounded (it can be off by orders of magnitude for long mantissas with
// large exponents, e.g. "798432592.260326317e34"), and toString (Grisu2) round-trips but is
// not always the shortest/closest form (0.1 + 0.2 prints as 0.30000000000000007), so results
// would not match a JavaScript reference bit for bit.
//
// Method: the common case (<= 19 significant digits whose value fits 2^53, |exp| <= 22) is
// Clinger's exact fast path: one IEEE multiplication or division of two exact values. Anything
// else gets an f64 estimate that is then corrected by exact big-integer comparison of the
// decimal value against the midpoints between neighbouring doubles. formatF64 takes the exact
// decimal expansion of x (x = M * 2^K is M * 5^-K / 10^-K), and for p = 1, 2, ... 17 tries
// the nearest p-digit decimal (and the other neighbour) until one parses back to x.

// ---------------------------------------------------------------------------
// Arbitrary precision unsigned integers (fixed capacity, little-endian u32 limbs)
// Layout at a pointer: [u32 length][u32 limb 0][u32 limb 1]...
// ---------------------------------------------------------------------------

// 192 limbs = 6144 bits. The largest values needed are about 3800 bits: an 800-digit
// mantissa shifted by up to 1075 bits, or M * 5^1124 (see cmpUpperMidpoint).
const BIG_CAP: u32 = 192;
const BIG_BYTES: usize = 4 + (<usize>BIG_CAP << 2);

// @ts-ignore: decorator
@lazy let bigArea: usize = 0;

function bigD(): usize {
  if (bigArea == 0) bigArea = heap.alloc(BIG_BYTES * 3);
  return bigArea;
}
// @ts-ignore: decorator
@inline function bigL(): usize { return bigD() + BIG_BYTES; }
// @ts-ignore: decorator
@inline function bigR(): usize { return bigD() + BIG_BYTES * 2; }

// @ts-ignore: decorator
@inline function limbAt(b: usize, i: u32): usize {
  return b + 4 + (<usize>i << 2);
}

function bigOverflow(): void {
  abort("f64text: big integer capacity exceeded");
}

function bigSetU64(b: usize, v: u64): void {
  let n: u32 = 0;
  while (v != 0) {
    store<u32>(limbAt(b, n), <u32>v);
    v >>= 32;
    n++;
  }
  store<u32>(b, n);
}

function bigCopy(dst: usize, src: usize): void {
  memory.copy(dst, src, 4 + (<usize>load<u32>(src) << 2));
}

function bigMulSmall(b: usize, m: u32): void {
  const n = load<u32>(b);
  let carry: u64 = 0;
  for (let i: u32 = 0; i < n; i++) {
    const p = limbAt(b, i);
    const t = <u64>load<u32>(p) * <u64>m + carry;
    store<u32>(p, <u32>t);
    carry = t >> 32;
  }
  if (carry != 0) {
    if (n >= BIG_CAP) bigOverflow();
    store<u32>(limbAt(b, n), <u32>carry);
    store<u32>(b, n + 1);
  }
}

function bigAddSmall(b: usize, a: u32): void {
  const n = load<u32>(b);
  let carry = <u64>a;
  for (let i: u32 = 0; carry != 0 && i < n; i++) {
    const p = limbAt(b, i);
    const t = <u64>load<u32>(p) + carry;
    store<u32>(p, <u32>t);
    carry = t >> 32;
  }
  if (carry != 0) {
    if (n >= BIG_CAP) bigOverflow();
    store<u32>(limbAt(b, n), <u32>carry);
    store<u32>(b, n + 1);
  }
}

function bigMulPow5(b: usize, e: u32): void {
  while (e >= 13) {
    bigMulSmall(b, 1220703125); // 5^13
    e -= 13;
  }
  if (e != 0) {
    let m: u32 = 1;
    for (let i: u32 = 0; i < e; i++) m *= 5;
    bigMulSmall(b, m);
  }
}

function bigShl(b: usize, s: u32): void {
  const n = load<u32>(b);
  if (n == 0 || s == 0) return;
  const words = s >> 5;
  const bits = s & 31;
  if (n + words + 1 > BIG_CAP) bigOverflow();
  let newLen = n + words;
  if (bits == 0) {
    for (let i = <i32>n - 1; i >= 0; i--) {
      store<u32>(limbAt(b, <u32>i + words), load<u32>(limbAt(b, <u32>i)));
    }
  } else {
    const top = load<u32>(limbAt(b, n - 1)) >> (32 - bits);
    for (let i = <i32>n - 1; i >= 1; i--) {
      const hi = load<u32>(limbAt(b, <u32>i)) << bits;
      const lo = load<u32>(limbAt(b, <u32>i - 1)) >> (32 - bits);
      store<u32>(limbAt(b, <u32>i + words), hi | lo);
    }
    store<u32>(limbAt(b, words), load<u32>(limbAt(b, 0)) << bits);
    if (top != 0) {
      store<u32>(limbAt(b, newLen), top);
      newLen++;
    }
  }
  for (let i: u32 = 0; i < words; i++) store<u32>(limbAt(b, i), 0);
  store<u32>(b, newLen);
}

function bigCmp(a: usize, b: usize): i32 {
  const na = load<u32>(a);
  const nb = load<u32>(b);
  if (na != nb) return na > nb ? 1 : -1;
  for (let i = <i32>na - 1; i >= 0; i--) {
    const x = load<u32>(limbAt(a, <u32>i));
    const y = load<u32>(limbAt(b, <u32>i));
    if (x != y) return x > y ? 1 : -1;
  }
  return 0;
}

/** Divides in place by d (> 0) and returns the remainder. */
function bigDivSmall(b: usize, d: u32): u32 {
  let n = load<u32>(b);
  let rem: u64 = 0;
  for (let i = <i32>n - 1; i >= 0; i--) {
    const p = limbAt(b, <u32>i);
    const cur = (rem << 32) | <u64>load<u32>(p);
    store<u32>(p, <u32>(cur / <u64>d));
    rem = cur % <u64>d;
  }
  while (n > 0 && load<u32>(limbAt(b, n - 1)) == 0) n--;
  store<u32>(b, n);
  return <u32>rem;
}

// ---------------------------------------------------------------------------
// Decimal -> f64
// ---------------------------------------------------------------------------

// 10^0 .. 10^22, all exactly representable as f64.
// @ts-ignore: decorator
@lazy const POW10: usize = memory.data<f64>([
  1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
  1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22
]);

// @ts-ignore: decorator
@inline function pow10(k: i32): f64 {
  return load<f64>(POW10 + (<usize>k << 3));
}

const TWO53: u64 = 9007199254740992;
const INF_BITS: u64 = 0x7FF0000000000000;
const MAX_DIGITS: i32 = 800; // significant digits kept for the exact comparison (767 suffice)

// The decimal value being converted is D * 10^bigE, D in bigD().
// @ts-ignore: decorator
@lazy let bigE: i32 = 0;

/** Sign of (D * 10^bigE) - (midpoint between the double with these bits and the next one up). */
function cmpUpperMidpoint(bits: u64): i32 {
  const ex = <i32>((bits >> 52) & 0x7FF);
  const frac = bits & 0xFFFFFFFFFFFFF;
  let m: u64;
  let k: i32;
  if (ex == 0) {
    m = frac;
    k = -1074;
  } else {
    m = frac | (<u64>1 << 52);
    k = ex - 1075;
  }
  // midpoint = (2m + 1) * 2^(k - 1)
  const L = bigL();
  const R = bigR();
  bigCopy(L, bigD());
  bigSetU64(R, 2 * m + 1);
  if (bigE >= 0) bigMulPow5(L, <u32>bigE);
  else bigMulPow5(R, <u32>(-bigE));
  // L carries 2^bigE, R carries 2^(k-1)
  const s = bigE - (k - 1);
  if (s >= 0) bigShl(L, <u32>s);
  else bigShl(R, <u32>(-s));
  return bigCmp(L, R);
}

/** f64 approximation of w * 10^e (a few ulps off at most), for the correction loop. */
function estimate(w: u64, e: i64): f64 {
  let x = <f64>w;
  while (e > 22) {
    x *= 1e22;
    e -= 22;
  }
  while (e < -22) {
    x /= 1e22;
    e += 22;
  }
  return e >= 0 ? x * pow10(<i32>e) : x / pow10(<i32>(-e));
}

/** Correctly rounded D * 10^bigE, starting from an estimate. */
function refine(z: f64): f64 {
  if (!isFinite(z)) z = f64.MAX_VALUE;
  let bits = reinterpret<u64>(z);
  for (let iter = 0; iter < 100000; iter++) {
    if (bits >= INF_BITS) return Infinity;
    const up = cmpUpperMidpoint(bits);
    if (up > 0 || (up == 0 && (bits & 1) != 0)) {
      bits++; // above the midpoint to the next double (ties go to the even mantissa)
      continue;
    }
    if (bits == 0) return 0;
    const down = cmpUpperMidpoint(bits - 1);
    if (down < 0 || (down == 0 && ((bits - 1) & 1) == 0)) {
      bits--;
      continue;
    }
    return reinterpret<f64>(bits);
  }
  abort("f64text: no convergence");
  return NaN;
}

function decimalDigitsU64(v: u64): i32 {
  let n = 0;
  do {
    n++;
    v /= 10;
  } while (v != 0);
  return n;
}

/**
 * Correctly rounded w * 10^e (w < 10^19) when the mantissa is exact (digitsLen == 0);
 * otherwise w holds the first 19 significant digits of the mantissa text at
 * [digitsPtr, digitsPtr + digitsLen) (digits and at most one '.'), whose 19th digit has
 * weight 10^e, and the full text decides the rounding.
 */
function decimalToF64(w: u64, e: i64, digitsPtr: usize, digitsLen: usize): f64 {
  if (w == 0) return 0;
  const exact = digitsLen == 0;
  if (exact && w <= TWO53) {
    // Clinger's fast path: both operands exact, so one rounding.
    if (e == 0) return <f64>w;
    if (e > 0 && e <= 22) return <f64>w * pow10(<i32>e);
    if (e < 0 && e >= -22) return <f64>w / pow10(<i32>(-e));
    if (e > 22 && e <= 22 + 16) {
      let m = w;
      let k = e - 22;
      while (k > 0 && m <= TWO53) {
        m *= 10;
        k--;
      }
      if (m <= TWO53) return <f64>m * 1e22;
    }
  }
  // magnitude: the value lies in [10^(mag-1), 10^mag)
  const mag = <i64>decimalDigitsU64(w) + e;
  if (mag > 310) return Infinity;
  if (mag <= -324) return 0; // below half the smallest subnormal (~2.47e-324)

  const D = bigD();
  if (exact) {
    bigSetU64(D, w);
    bigE = <i32>e;
  } else {
    // All significant digits (up to MAX_DIGITS; a nonzero tail becomes one more '1' digit,
    // which keeps every comparison with a midpoint, at most 767 digits long, the same).
    store<u32>(D, 0);
    let kept = 0;
    let chunk: u32 = 0;
    let chunkLen = 0;
    let sticky = false;
    let started = false;
    for (let i: usize = 0; i < digitsLen; i++) {
      const c = <u32>load<u8>(digitsPtr + i);
      if (c == 0x2E) continue; // '.'
      const d = c - 0x30;
      if (!started) {
        if (d == 0) continue;
        started = true;
      }
      if (kept < MAX_DIGITS - 1) {
        chunk = chunk * 10 + d;
        chunkLen++;
        kept++;
        if (chunkLen == 9) {
          bigMulSmall(D, 1000000000);
          bigAddSmall(D, chunk);
          chunk = 0;
          chunkLen = 0;
        }
      } else if (d != 0) {
        sticky = true;
        break;
      }
    }
    if (sticky) {
      chunk = chunk * 10 + 1;
      chunkLen++;
      kept++;
    }
    if (chunkLen > 0) {
      let scale: u32 = 1;
      for (let i = 0; i < chunkLen; i++) scale *= 10;
      bigMulSmall(D, scale);
      bigAddSmall(D, chunk);
    }
    // w's 19th digit has weight 10^e, so the kept-th digit has weight 10^(e + 19 - kept)
    bigE = <i32>(e + 19 - <i64>kept);
  }
  return refine(estimate(w, e));
}

export const PARSE_OK: i32 = 0;
/** Not a decimal number: [+-] digits [. digits] [(e|E) [+-] digits], or . digits ... */
export const PARSE_SYNTAX: i32 = 1;
/** A valid number whose magnitude rounds to Infinity. */
export const PARSE_RANGE: i32 = 2;

/** The value of the last successful parseF64(). */
export let parsedF64: f64 = 0;

/**
 * Parses the bytes [ptr, ptr + len) as a decimal number and stores it in `parsedF64`.
 * Grammar: optional sign, digits with an optional '.' (at least one digit in total, e.g.
 * "5", "5.", ".5", "-0.25"), optional exponent 'e'/'E' [sign] digits. Nothing else: no
 * spaces, no "NaN"/"Infinity", no hex, no digit separators. Values too small for a
 * double become (signed) zero; values too large give PARSE_RANGE.
 */
export function parseF64(ptr: usize, len: usize): i32 {
  let i: usize = 0;
  let neg = false;
  if (i < len) {
    const c = load<u8>(ptr);
    if (c == 0x2D || c == 0x2B) {
      neg = c == 0x2D;
      i++;
    }
  }
  const mantStart = i;
  let w: u64 = 0;
  let nsig = 0;
  let e: i64 = 0;
  let truncated = false;
  let sawDigit = false;
  let sawDot = false;
  for (; i < len; i++) {
    const c = <u32>load<u8>(ptr + i);
    const d = c - 0x30;
    if (d < 10) {
      sawDigit = true;
      if (nsig == 0 && d == 0) {
        if (sawDot) e--; // leading zero
      } else if (nsig < 19) {
        w = w * 10 + <u64>d;
        nsig++;
        if (sawDot) e--;
      } else {
        if (d != 0) truncated = true;
        if (!sawDot) e++;
      }
    } else if (c == 0x2E && !sawDot) {
      sawDot = true;
    } else {
      break;
    }
  }
  if (!sawDigit) return PARSE_SYNTAX;
  const mantEnd = i;
  if (i < len) {
    if ((<u32>load<u8>(ptr + i) | 0x20) != 0x65) return PARSE_SYNTAX; // 'e' / 'E'
    i++;
    let expNeg = false;
    if (i < len) {
      const c = load<u8>(ptr + i);
      if (c == 0x2D || c == 0x2B) {
        expNeg = c == 0x2D;
        i++;
      }
    }
    let x: i64 = 0;
    let expDigits = 0;
    for (; i < len; i++) {
      const d = <u32>load<u8>(ptr + i) - 0x30;
      if (d >= 10) return PARSE_SYNTAX;
      if (x < 100000000) x = x * 10 + <i64>d; // beyond this it is 0 or Infinity anyway
      expDigits++;
    }
    if (expDigits == 0) return PARSE_SYNTAX;
    e += expNeg ? -x : x;
  }
  const v = truncated
    ? decimalToF64(w, e, ptr + mantStart, mantEnd - mantStart)
    : decimalToF64(w, e, 0, 0);
  if (v == Infinity) return PARSE_RANGE;
  parsedF64 = neg ? -v : v;
  return PARSE_OK;
}

// ---------------------------------------------------------------------------
// f64 -> shortest decimal text (JavaScript's Number::toString)
// ---------------------------------------------------------------------------

/** Longest output of formatF64, e.g. "-0.0000012345678901234567" or "-1.2345678901234567e-308". */
export const FORMAT_MAX: usize = 32;

// Exact decimal digits of a double, at most 767 significant ones (+ slack).
// @ts-ignore: decorator
@lazy let digitArea: usize = 0;
// The (at most 18) digits of the chosen representation.
// @ts-ignore: decorator
@lazy const SDIGITS: usize = memory.data(24);

/**
 * Writes x like JavaScript's String(x) (which JSON.stringify uses for finite numbers) to
 * `out` (FORMAT_MAX bytes) and returns the length. -0 is written as "0". x must be finite.
 */
export function formatF64(x: f64, out: usize): usize {
  if (!isFinite(x)) abort("formatF64: not finite");
  let p = out;
  if (x == 0) {
    store<u8>(p, 0x30);
    return 1;
  }
  if (x < 0) {
    store<u8>(p++, 0x2D);
    x = -x;
  }
  const bits = reinterpret<u64>(x);
  const ex = <i32>((bits >> 52) & 0x7FF);
  const frac = bits & 0xFFFFFFFFFFFFF;
  let m: u64;
  let k: i32;
  if (ex == 0) {
    m = frac;
    k = -1074;
  } else {
    m = frac | (<u64>1 << 52);
    k = ex - 1075;
  }

  // Exact expansion: x = N * 10^q with N = m * 2^k (k >= 0) or m * 5^-k (k < 0).
  const N = bigL();
  bigSetU64(N, m);
  let q: i32 = 0;
  if (k >= 0) {
    bigShl(N, <u32>k);
  } else {
    bigMulPow5(N, <u32>(-k));
    q = k;
  }
  if (digitArea == 0) digitArea = heap.alloc(800);
  const DIG = digitArea;
  let nd = 0; // digits are written backwards from the end of the area
  while (load<u32>(N) != 0) {
    let r = bigDivSmall(N, 1000000000);
    const more = load<u32>(N) != 0;
    for (let j = 0; j < 9 && (more || r != 0); j++) {
      nd++;
      store<u8>(DIG + 800 - <usize>nd, <u8>(r % 10));
      r /= 10;
    }
  }
  const digits = DIG + 800 - <usize>nd; // digits[0..nd), most significant first
  const n = nd + q; // x = 0.d1 d2 d3 ... * 10^n

  // Shortest digits s (as an integer with `sk` digits) such that s * 10^(n - sk) == x.
  let s: u64 = 0;
  let sk = 0;
  for (let prec = 1; prec <= 17; prec++) {
    if (prec >= nd) {
      s = 0;
      for (let j = 0; j < nd; j++) s = s * 10 + <u64>load<u8>(digits + <usize>j);
      sk = nd;
      break;
    }
    let lo: u64 = 0;
    for (let j = 0; j < prec; j++) lo = lo * 10 + <u64>load<u8>(digits + <usize>j);
    // the digits after the first `prec` decide: exact, round down, round up, or a tie
    const first = load<u8>(digits + <usize>prec);
    let restNonZero = false;
    for (let j = prec + 1; j < nd; j++) {
      if (load<u8>(digits + <usize>j) != 0) {
        restNonZero = true;
        break;
      }
    }
    if (first == 0 && !restNonZero) {
      // exact with prec digits
      s = lo;
      sk = prec;
      break;
    }
    const roundUp = first > 5 || (first == 5 && (restNonZero || (lo & 1) != 0));
    const nearest = roundUp ? lo + 1 : lo;
    const other = roundUp ? lo : lo + 1;
    const e = <i64>(n - prec);
    if (decimalToF64(nearest, e, 0, 0) == x) {
      s = nearest;
      sk = prec;
      break;
    }
    if (decimalToF64(other, e, 0, 0) == x) {
      s = other;
      sk = prec;
      break;
    }
  }
  if (sk == 0) abort("formatF64: no round-trip representation");
  // s * 10^(n - sk): normalise to s without trailing zeros, kk digits, x = 0.s * 10^nn
  let e10 = n - sk;
  while (s % 10 == 0) {
    s /= 10;
    e10++;
  }
  const kk = decimalDigitsU64(s);
  const nn = kk + e10;
  // the digits of s
  const sd = SDIGITS;
  for (let j = kk - 1; j >= 0; j--) {
    store<u8>(sd + <usize>j, <u8>(0x30 + s % 10));
    s /= 10;
  }
  if (kk <= nn && nn <= 21) {
    // integer: digits then zeros
    memory.copy(p, sd, <usize>kk);
    p += <usize>kk;
    for (let j = kk; j < nn; j++) store<u8>(p++, 0x30);
  } else if (0 < nn && nn <= 21) {
    memory.copy(p, sd, <usize>nn);
    p += <usize>nn;
    store<u8>(p++, 0x2E);
    memory.copy(p, sd + <usize>nn, <usize>(kk - nn));
    p += <usize>(kk - nn);
  } else if (-6 < nn && nn <= 0) {
    store<u8>(p++, 0x30);
    store<u8>(p++, 0x2E);
    for (let j = 0; j < -nn; j++) store<u8>(p++, 0x30);
    memory.copy(p, sd, <usize>kk);
    p += <usize>kk;
  } else {
    store<u8>(p++, load<u8>(sd));
    if (kk > 1) {
      store<u8>(p++, 0x2E);
      memory.copy(p, sd + 1, <usize>(kk - 1));
      p += <usize>(kk - 1);
    }
    store<u8>(p++, 0x65); // e
    let ee = nn - 1;
    store<u8>(p++, ee < 0 ? 0x2D : 0x2B);
    if (ee < 0) ee = -ee;
    const ed = decimalDigitsU64(<u64>ee);
    for (let j = ed - 1; j >= 0; j--) {
      store<u8>(p + <usize>j, <u8>(0x30 + ee % 10));
      ee /= 10;
    }
    p += <usize>ed;
  }
  return p - out;
}
