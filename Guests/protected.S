# 32-bit protected mode, paging off: prints a line on COM1 and halts.
# Built as a flat binary (loaded at 0x100000) and as an ELF32 executable.
    .include "uart.inc"
    .code32
    .globl _start
_start:
    mov $message, %esi
    print_polled
    hlt
message:
    .asciz "Hello from 32-bit protected mode!\n"
