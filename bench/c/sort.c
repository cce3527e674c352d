/* Sorts 1M pseudo-random 32-bit integers three ways: an in-place quicksort
 * (median of three, insertion sort below 16), a bottom-up merge sort, and
 * libc's qsort (an indirect call per comparison). Prints a checksum. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define COUNT (1 << 20)
static uint32_t a[COUNT], tmp[COUNT];

static void fill(uint32_t seed) {
  for (int i = 0; i < COUNT; i++) { seed = seed * 1664525u + 1013904223u; a[i] = seed ^ (seed >> 13); }
}

static void insertion(uint32_t *v, int n) {
  for (int i = 1; i < n; i++) {
    uint32_t x = v[i];
    int j = i - 1;
    while (j >= 0 && v[j] > x) { v[j + 1] = v[j]; j--; }
    v[j + 1] = x;
  }
}

static void quick(uint32_t *v, int n) {
  while (n > 16) {
    uint32_t p0 = v[0], p1 = v[n / 2], p2 = v[n - 1];
    uint32_t p = p0 < p1 ? (p1 < p2 ? p1 : (p0 < p2 ? p2 : p0)) : (p0 < p2 ? p0 : (p1 < p2 ? p2 : p1));
    int i = 0, j = n - 1;
    for (;;) {
      while (v[i] < p) i++;
      while (v[j] > p) j--;
      if (i >= j) break;
      uint32_t t = v[i]; v[i] = v[j]; v[j] = t;
      i++; j--;
    }
    if (j + 1 < n - j - 1) { quick(v, j + 1); v += j + 1; n -= j + 1; }
    else { quick(v + j + 1, n - j - 1); n = j + 1; }
  }
  insertion(v, n);
}

static void merge_sort(void) {
  uint32_t *src = a, *dst = tmp;
  for (int width = 1; width < COUNT; width *= 2) {
    for (int lo = 0; lo < COUNT; lo += 2 * width) {
      int mid = lo + width < COUNT ? lo + width : COUNT, hi = lo + 2 * width < COUNT ? lo + 2 * width : COUNT;
      int i = lo, j = mid, k = lo;
      while (i < mid && j < hi) dst[k++] = src[i] <= src[j] ? src[i++] : src[j++];
      while (i < mid) dst[k++] = src[i++];
      while (j < hi) dst[k++] = src[j++];
    }
    uint32_t *t = src; src = dst; dst = t;
  }
  if (src != a) for (int i = 0; i < COUNT; i++) a[i] = src[i];
}

static int cmp(const void *x, const void *y) {
  uint32_t p = *(const uint32_t *)x, q = *(const uint32_t *)y;
  return (p > q) - (p < q);
}

static uint64_t checksum(void) {
  uint64_t s = 0;
  for (int i = 0; i < COUNT; i++) {
    if (i > 0 && a[i - 1] > a[i]) return 0;
    s = s * 31 + a[i];
  }
  return s;
}

int main(void) {
  fill(1); quick(a, COUNT); uint64_t x = checksum();
  fill(2); merge_sort(); uint64_t y = checksum();
  fill(3); qsort(a, COUNT, sizeof a[0], cmp); uint64_t z = checksum();
  printf("%llu %llu %llu\n", (unsigned long long)x, (unsigned long long)y, (unsigned long long)z);
  return 0;
}
