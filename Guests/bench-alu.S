# Benchmark guest (long mode): a tight ALU loop of 4 instructions, 5,000,000 times
# (20,000,002 instructions in all), then HLT. scripts/bench divides by the run time for MIPS.
    .include "bench-loops.inc"
    .code64
    .globl _start
_start:
    alu_loop 5000000
    hlt
