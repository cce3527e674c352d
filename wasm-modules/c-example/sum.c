/*
 * sum: a fogmesh job written in C against wasi-libc.
 *
 * stdin:  numbers separated by whitespace and/or commas, e.g. "1.5, 2\n3"
 * stdout: their sum, printed with 17 significant digits (enough to round-trip a double)
 * errors: a token that is not a finite number -> message on stderr, exit code 1
 *
 * Build: ./build.sh   (see wasm-modules/README.md for the exact clang command)
 * Only wasi_snapshot_preview1 imports: wasi-libc turns read/write/exit into fd_read,
 * fd_write, proc_exit, ...
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Decimal numbers only: digits, sign, '.', exponent. strtod alone would also take "nan", "inf", hex. */
static int is_decimal_token(const char *s) {
    for (; *s; s++) {
        if (!strchr("0123456789+-.eE", *s)) return 0;
    }
    return 1;
}

static int is_separator(char c) {
    return c == ' ' || c == '\n' || c == '\r' || c == '\t' || c == ',' || c == '\v' || c == '\f';
}

int main(void) {
    /* Read all of stdin: read() returns 0 at EOF; loop, the input may be larger than one read. */
    size_t cap = 64 * 1024, len = 0;
    char *buf = malloc(cap + 1);
    if (!buf) { fputs("sum: out of memory\n", stderr); return 1; }
    for (;;) {
        if (len == cap) {
            cap *= 2;
            char *grown = realloc(buf, cap + 1);
            if (!grown) { fputs("sum: out of memory\n", stderr); return 1; }
            buf = grown;
        }
        ssize_t n = read(STDIN_FILENO, buf + len, cap - len);
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN) continue;
            fprintf(stderr, "sum: reading stdin failed: %s\n", strerror(errno));
            return 1;
        }
        if (n == 0) break;
        len += (size_t)n;
    }
    buf[len] = '\0';

    double sum = 0;
    long count = 0;
    size_t i = 0;
    while (i < len) {
        while (i < len && is_separator(buf[i])) i++;
        if (i >= len) break;
        size_t start = i;
        while (i < len && !is_separator(buf[i])) i++;
        char saved = buf[i];
        buf[i] = '\0';
        char *end = NULL;
        errno = 0;
        double x = strtod(buf + start, &end);
        /* the whole token must be a finite decimal number */
        int bad = !is_decimal_token(buf + start) || end != buf + i || !isfinite(x);
        if (bad) {
            fprintf(stderr, "sum: not a number \"%.40s\" (reading %ld)\n", buf + start, count + 1);
            return 1;
        }
        buf[i] = saved;
        sum += x;
        count++;
    }
    if (count == 0) {
        fputs("sum: no numbers in input\n", stderr);
        return 1;
    }
    if (!isfinite(sum)) {
        fputs("sum: the sum overflows a double\n", stderr);
        return 1;
    }
    printf("%.17g\n", sum);
    return 0;
}
