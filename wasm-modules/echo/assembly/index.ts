// echo: copies stdin to stdout byte for byte (used by benchmarks for tiny jobs).
//
// Streams in 64 KiB chunks, so memory use does not depend on the input size.
// Kept deliberately minimal (< 1 KB): no allocator, no string handling; the
// chunk buffer sits right after the static data (__heap_base) and the two
// error messages are static UTF-8 bytes.
import { STDIN, STDOUT, STDERR, readSome, writeAll, exit } from "wasi_job";

const CHUNK: usize = 64 * 1024;
const buf: usize = (__heap_base + 15) & ~15;

// "echo: read error\n"
const READ_ERR = memory.data<u8>([101, 99, 104, 111, 58, 32, 114, 101, 97, 100, 32, 101, 114, 114, 111, 114, 10]);
// "echo: write error\n"
const WRITE_ERR = memory.data<u8>([101, 99, 104, 111, 58, 32, 119, 114, 105, 116, 101, 32, 101, 114, 114, 111, 114, 10]);

const needPages = <i32>((buf + CHUNK + 0xFFFF) >> 16) - memory.size();
if (needPages > 0 && memory.grow(needPages) < 0) unreachable(); // cannot get 64 KiB: trap

while (true) {
  const n = readSome(STDIN, buf, CHUNK);
  if (n == 0) break; // EOF
  if (n < 0) {
    writeAll(STDERR, READ_ERR, 17);
    exit(1);
  }
  if (writeAll(STDOUT, buf, <usize>n) != 0) {
    writeAll(STDERR, WRITE_ERR, 18);
    exit(1);
  }
}
