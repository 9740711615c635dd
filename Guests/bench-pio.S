# Benchmark guest (32-bit protected mode, paging off): 20000 port writes to the UART scratch
# register, each a port-I/O exit, then HLT. The C reference in bench/ runs the same bytes.
    .code32
    .globl _start
_start:
    mov $20000, %ecx
    mov $0x3ff, %dx
1:  out %al, %dx
    dec %ecx
    jnz 1b
    hlt
