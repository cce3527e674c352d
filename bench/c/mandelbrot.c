/* Mandelbrot set, 1200 x 1200, up to 100 iterations per point: a tight float
 * loop with an early exit. Prints how many points stayed bounded. */
#include <stdio.h>

int main(void) {
  const int size = 1200, limit = 100;
  long inside = 0;
  for (int py = 0; py < size; py++) {
    double ci = 2.0 * py / size - 1.0;
    for (int px = 0; px < size; px++) {
      double cr = 2.0 * px / size - 1.5, zr = 0, zi = 0;
      int i = 0;
      for (; i < limit; i++) {
        double zr2 = zr * zr, zi2 = zi * zi;
        if (zr2 + zi2 > 4.0) break;
        zi = 2 * zr * zi + ci;
        zr = zr2 - zi2 + cr;
      }
      if (i == limit) inside++;
    }
  }
  printf("%ld\n", inside);
  return 0;
}
