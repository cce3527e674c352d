/*
 * echo: stdin copied to stdout — the C (wasi-libc) twin of wasm-modules/echo
 * (AssemblyScript), for the throughput and round-trip benches' C row.
 * Plain read/write (wasi-libc turns them into fd_read / fd_write): no stdio buffers.
 */
#include <unistd.h>

static unsigned char buf[64 * 1024];

int main(void) {
    for (;;) {
        ssize_t n = read(0, buf, sizeof buf);
        if (n == 0) return 0;
        if (n < 0) return 1;
        for (ssize_t off = 0; off < n;) {
            ssize_t w = write(1, buf + off, (size_t)(n - off));
            if (w <= 0) return 1;
            off += w;
        }
    }
}
