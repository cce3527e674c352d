/* A tiny bytecode interpreter (a switch in a loop: many short basic blocks,
 * the worst case for per-block metering) running a program that sums the
 * primes below 300000 by trial division. */
#include <stdint.h>
#include <stdio.h>

enum { PUSH, LOAD, STORE, ADD, SUB, MUL, MOD, LT, JZ, JMP, DUP, DROP, HALT };

/* registers: r0 n, r1 d, r2 sum, r3 limit */
static const int32_t program[] = {
  /*  0 */ PUSH, 2, STORE, 0,                 /* n = 2 */
  /*  4 */ PUSH, 0, STORE, 2,                 /* sum = 0 */
  /*  8 */ PUSH, 300000, STORE, 3,            /* limit */
  /* 12 */ LOAD, 0, LOAD, 3, LT, JZ, 68,      /* outer: n < limit, else halt */
  /* 19 */ PUSH, 2, STORE, 1,                 /* d = 2 */
  /* 23 */ LOAD, 1, LOAD, 1, MUL, LOAD, 0, PUSH, 1, ADD, LT, JZ, 52, /* d*d < n+1, else prime */
  /* 36 */ LOAD, 0, LOAD, 1, MOD, JZ, 59,     /* n % d == 0: not prime */
  /* 43 */ LOAD, 1, PUSH, 1, ADD, STORE, 1, JMP, 23,
  /* 52 */ LOAD, 2, LOAD, 0, ADD, STORE, 2,   /* prime: sum += n */
  /* 59 */ LOAD, 0, PUSH, 1, ADD, STORE, 0, JMP, 12,
  /* 68 */ HALT,
};

int main(void) {
  int64_t stack[64], reg[8] = {0};
  int sp = 0, pc = 0;
  uint64_t steps = 0;
  for (;;) {
    steps++;
    switch (program[pc++]) {
      case PUSH: stack[sp++] = program[pc++]; break;
      case LOAD: stack[sp++] = reg[program[pc++]]; break;
      case STORE: reg[program[pc++]] = stack[--sp]; break;
      case ADD: sp--; stack[sp - 1] += stack[sp]; break;
      case SUB: sp--; stack[sp - 1] -= stack[sp]; break;
      case MUL: sp--; stack[sp - 1] *= stack[sp]; break;
      case MOD: sp--; stack[sp - 1] %= stack[sp]; break;
      case LT: sp--; stack[sp - 1] = stack[sp - 1] < stack[sp]; break;
      case JZ: { int32_t t = program[pc++]; if (stack[--sp] == 0) pc = t; break; }
      case JMP: pc = program[pc]; break;
      case DUP: stack[sp] = stack[sp - 1]; sp++; break;
      case DROP: sp--; break;
      case HALT: printf("%lld %llu\n", (long long)reg[2], (unsigned long long)steps); return 0;
    }
  }
}
