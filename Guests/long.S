# 64-bit long mode at CPL 0 on the VMM's identity map: prints a line on COM1 with a string
# instruction (rep outsb, one exit per byte) and halts. Built flat and as an ELF64 executable.
    .include "uart.inc"
    .code64
    .globl _start
_start:
    lea message(%rip), %rsi
    mov $message_end - message, %ecx
    mov $COM1, %dx
    rep outsb
    hlt
message:
    .ascii "Hello from 64-bit long mode!\n"
message_end:
