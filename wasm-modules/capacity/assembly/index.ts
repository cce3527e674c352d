// capacity: the Proof of Capacity benchmark. A SHA-256 hash chain: h0 = seed, h(i+1) =
// sha256(h(i)), N times, in S segments of N/S links; prints the chain at the end of every
// segment, h(N/S), h(2N/S), ..., h(N), each as 64 lowercase hex digits and a newline.
//
// Input (stdin, exactly 40 bytes): the 32-byte seed, then N and S as little-endian u32s
// (S >= 1 divides N). A challenger picks a random seed per slot, so no answer can be
// precomputed or shared between slots. It checks cheaply: it recomputes a few random segments
// from the checkpoint before them (each costs 1/S of the work); a chain with any segment not
// really computed fails such an audit with the probability of picking that segment. The fuel
// of a chain is the same on every agent.
// Errors (exit code 1, message on stderr): input that is not 40 bytes, S = 0, S not dividing N.
import { STDIN, readAll, readAllLength, writeStdout, fail } from "wasi_job";

// Round constants: the first 32 bits of the fractional parts of the cube roots of the first 64 primes.
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

// The message schedule W[0..63] and the current digest H[0..7] (as big-endian words).
// @ts-ignore: decorator
const W: usize = memory.data(64 * 4, 16);
// @ts-ignore: decorator
const H: usize = memory.data(8 * 4, 16);

/** H = sha256 of the 32-byte message in H (one padded block: message, 0x80, zeros, bit length 256). */
function hashDigest(): void {
  for (let t: usize = 0; t < 8; t++) store<u32>(W + (t << 2), load<u32>(H + (t << 2)));
  store<u32>(W + 32, 0x80000000);
  for (let t: usize = 9; t < 15; t++) store<u32>(W + (t << 2), 0);
  store<u32>(W + 60, 256);
  for (let t: usize = 16; t < 64; t++) {
    const w15 = load<u32>(W + ((t - 15) << 2));
    const w2 = load<u32>(W + ((t - 2) << 2));
    const sig0 = rotr<u32>(w15, 7) ^ rotr<u32>(w15, 18) ^ (w15 >>> 3);
    const sig1 = rotr<u32>(w2, 17) ^ rotr<u32>(w2, 19) ^ (w2 >>> 10);
    store<u32>(W + (t << 2), sig1 + load<u32>(W + ((t - 7) << 2)) + sig0 + load<u32>(W + ((t - 16) << 2)));
  }
  let a: u32 = 0x6a09e667, b: u32 = 0xbb67ae85, c: u32 = 0x3c6ef372, d: u32 = 0xa54ff53a;
  let e: u32 = 0x510e527f, f: u32 = 0x9b05688c, g: u32 = 0x1f83d9ab, h: u32 = 0x5be0cd19;
  for (let t: usize = 0; t < 64; t++) {
    const t1 = h + (rotr<u32>(e, 6) ^ rotr<u32>(e, 11) ^ rotr<u32>(e, 25)) + ((e & f) ^ (~e & g)) + load<u32>(K + (t << 2)) + load<u32>(W + (t << 2));
    const t2 = (rotr<u32>(a, 2) ^ rotr<u32>(a, 13) ^ rotr<u32>(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
    h = g; g = f; f = e; e = d + t1; d = c; c = b; b = a; a = t1 + t2;
  }
  store<u32>(H, 0x6a09e667 + a); store<u32>(H + 4, 0xbb67ae85 + b);
  store<u32>(H + 8, 0x3c6ef372 + c); store<u32>(H + 12, 0xa54ff53a + d);
  store<u32>(H + 16, 0x510e527f + e); store<u32>(H + 20, 0x9b05688c + f);
  store<u32>(H + 24, 0x1f83d9ab + g); store<u32>(H + 28, 0x5be0cd19 + h);
}

const input = readAll(STDIN);
if (readAllLength != 40) fail("capacity: expected 40 bytes of input (a 32-byte seed, then the chain length and the segment count as little-endian u32s)");
for (let i: usize = 0; i < 8; i++) store<u32>(H + (i << 2), bswap<u32>(load<u32>(input + (i << 2))));
const n = load<u32>(input + 32);
const segments = load<u32>(input + 36);
if (segments == 0 || n % segments != 0) fail("capacity: the segment count must be at least 1 and divide the chain length");
const perSegment = n / segments;

const out = heap.alloc(<usize>segments * 65);
for (let k: u32 = 0; k < segments; k++) {
  for (let i: u32 = 0; i < perSegment; i++) hashDigest();
  const line = out + <usize>k * 65;
  for (let i: usize = 0; i < 8; i++) {
    const v = load<u32>(H + (i << 2));
    for (let j: usize = 0; j < 8; j++) {
      const nib = (v >>> (28 - (<u32>j << 2))) & 15;
      store<u8>(line + (i << 3) + j, <u8>(nib < 10 ? 0x30 + nib : 0x57 + nib));
    }
  }
  store<u8>(line + 64, 0x0A);
}
writeStdout(out, <usize>segments * 65);
