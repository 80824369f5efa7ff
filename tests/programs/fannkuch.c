/* fannkuch-redux (the Computer Language Benchmarks Game) without the
   parallel split: the work is one long call, the case tiering cannot
   speed up by swapping (no on-stack replacement). argv[1]: n. */
#include <stdio.h>
#include <stdlib.h>
int fannkuch(int n) {
  int perm[16], perm1[16], count[16], maxflips = 0, checksum = 0, permcount = 0, r = n;
  for (int i = 0; i < n; i++) perm1[i] = i;
  for (;;) {
    while (r != 1) { count[r - 1] = r; r--; }
    for (int i = 0; i < n; i++) perm[i] = perm1[i];
    int flips = 0, k;
    while ((k = perm[0]) != 0) {
      for (int i = 0, j = k; i < j; i++, j--) { int t = perm[i]; perm[i] = perm[j]; perm[j] = t; }
      flips++;
    }
    if (flips > maxflips) maxflips = flips;
    checksum += (permcount % 2 == 0) ? flips : -flips;
    for (;;) {
      if (r == n) { printf("%d\nPfannkuchen(%d) = %d\n", checksum, n, maxflips); return maxflips; }
      int p0 = perm1[0];
      for (int i = 0; i < r; i++) perm1[i] = perm1[i + 1];
      perm1[r] = p0;
      if (--count[r] > 0) break;
      r++;
    }
    permcount++;
  }
}
int main(int argc, char **argv) { return fannkuch(argc > 1 ? atoi(argv[1]) : 10) == 0; }
