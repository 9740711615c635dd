# Benchmark guest (long mode): the memory- and call-heavy loop of bench-loops.inc, 2,000,000 times
# (18,000,002 instructions in all), then HLT.
    .include "bench-loops.inc"
    .code64
    .globl _start
_start:
    call_loop 2000000
    hlt
    call_loop_work
