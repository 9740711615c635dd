# Benchmark guest (32-bit protected mode, paging off): 20000 writes to 0xD0000000, where there is
# no RAM, each an MMIO exit, then HLT. The C reference in bench/ runs the same bytes.
    .code32
    .globl _start
_start:
    mov $20000, %ecx
    mov $0xd0000000, %edi
1:  movb %al, (%edi)
    dec %ecx
    jnz 1b
    hlt
