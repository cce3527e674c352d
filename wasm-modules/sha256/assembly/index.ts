// sha256: the SHA-256 digest (FIPS 180-4) of all of stdin, as 64 lowercase hex digits and a
// newline. Pure AssemblyScript, no host crypto.
//
// Streams: stdin is read in 64 KiB chunks and every complete 64-byte block is compressed as
// soon as it arrives, so memory use does not depend on the input size (one 64 KiB buffer).
// Errors (exit code 1, message on stderr): only a failing read or write.
import { STDIN, readSome, writeStdout, failErrno } from "wasi_job";

const CHUNK: usize = 64 * 1024;

// Round constants: the first 32 bits of the fractional parts of the cube roots of the
// first 64 primes.
// @ts-ignore: decorator
const K: usize = memory.data<u32>([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]);

// The message schedule W[0..63].
// @ts-ignore: decorator
const W: usize = memory.data(64 * 4, 16);

// The hash state H0..H7 (initial values: the fractional parts of the square roots of the
// first 8 primes).
let h0: u32 = 0x6a09e667;
let h1: u32 = 0xbb67ae85;
let h2: u32 = 0x3c6ef372;
let h3: u32 = 0xa54ff53a;
let h4: u32 = 0x510e527f;
let h5: u32 = 0x9b05688c;
let h6: u32 = 0x1f83d9ab;
let h7: u32 = 0x5be0cd19;

/** Compresses the 64-byte blocks in [p, p + len), len a multiple of 64. */
function compress(p: usize, len: usize): void {
  const end = p + len;
  let s0 = h0, s1 = h1, s2 = h2, s3 = h3, s4 = h4, s5 = h5, s6 = h6, s7 = h7;
  while (p < end) {
    for (let t: usize = 0; t < 16; t++) {
      store<u32>(W + (t << 2), bswap<u32>(load<u32>(p + (t << 2))));
    }
    for (let t: usize = 16; t < 64; t++) {
      const w15 = load<u32>(W + ((t - 15) << 2));
      const w2 = load<u32>(W + ((t - 2) << 2));
      const sig0 = rotr<u32>(w15, 7) ^ rotr<u32>(w15, 18) ^ (w15 >>> 3);
      const sig1 = rotr<u32>(w2, 17) ^ rotr<u32>(w2, 19) ^ (w2 >>> 10);
      store<u32>(W + (t << 2), sig1 + load<u32>(W + ((t - 7) << 2)) + sig0 + load<u32>(W + ((t - 16) << 2)));
    }
    let a = s0, b = s1, c = s2, d = s3, e = s4, f = s5, g = s6, h = s7;
    for (let t: usize = 0; t < 64; t++) {
      const S1 = rotr<u32>(e, 6) ^ rotr<u32>(e, 11) ^ rotr<u32>(e, 25);
      const ch = (e & f) ^ (~e & g);
      const t1 = h + S1 + ch + load<u32>(K + (t << 2)) + load<u32>(W + (t << 2));
      const S0 = rotr<u32>(a, 2) ^ rotr<u32>(a, 13) ^ rotr<u32>(a, 22);
      const maj = (a & b) ^ (a & c) ^ (b & c);
      const t2 = S0 + maj;
      h = g;
      g = f;
      f = e;
      e = d + t1;
      d = c;
      c = b;
      b = a;
      a = t1 + t2;
    }
    s0 += a; s1 += b; s2 += c; s3 += d; s4 += e; s5 += f; s6 += g; s7 += h;
    p += 64;
  }
  h0 = s0; h1 = s1; h2 = s2; h3 = s3; h4 = s4; h5 = s5; h6 = s6; h7 = s7;
}

// Room for one chunk plus the padding (at most 2 blocks when the tail is 56..63 bytes).
const buf: usize = heap.alloc(CHUNK + 128);
let have: usize = 0; // bytes in buf not compressed yet (always < 64 between reads)
let total: u64 = 0;

while (true) {
  const n = readSome(STDIN, buf + have, CHUNK - have);
  if (n < 0) failErrno("sha256: reading stdin failed", <u32>(-n));
  if (n == 0) break;
  have += <usize>n;
  total += <u64>n;
  const full = have & ~(<usize>63);
  if (full != 0) {
    compress(buf, full);
    have -= full;
    if (have != 0) memory.copy(buf, buf + full, have);
  }
}

// Padding: 0x80, zeros up to 56 mod 64, then the length in bits as a big-endian u64.
store<u8>(buf + have, 0x80);
const padded: usize = have < 56 ? 64 : 128;
memory.fill(buf + have + 1, 0, padded - 8 - have - 1);
store<u64>(buf + padded - 8, bswap<u64>(total << 3));
compress(buf, padded);

// 64 lowercase hex digits and a newline.
const out = heap.alloc(65);

function putWord(i: usize, v: u32): void {
  const p = out + (i << 3);
  for (let j: usize = 0; j < 8; j++) {
    const nib = (v >>> (28 - (<u32>j << 2))) & 15;
    store<u8>(p + j, <u8>(nib < 10 ? 0x30 + nib : 0x57 + nib));
  }
}

putWord(0, h0);
putWord(1, h1);
putWord(2, h2);
putWord(3, h3);
putWord(4, h4);
putWord(5, h5);
putWord(6, h6);
putWord(7, h7);
store<u8>(out + 64, 0x0A);
writeStdout(out, 65);
