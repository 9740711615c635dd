# Benchmark guest (long mode): a tight ALU loop of 4 instructions, 5,000,000 times
# (20,000,002 instructions in all), then HLT. scripts/bench divides by the run time for MIPS.
    .code64
    .globl _start
_start:
    mov $5000000, %ecx
1:  add %eax, %ebx
    xor %edx, %ebx
    dec %ecx
    jnz 1b
    hlt
