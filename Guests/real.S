# Real mode: prints a line on COM1 the way a boot sector would, records POST codes, halts.
# Loaded at 0x7C00 and entered at 0000:7C00 with interrupts disabled.
    .include "uart.inc"
    .code16
    .globl _start
_start:
    xor %ax, %ax
    mov %ax, %ds
    mov $0x10, %al
    out %al, $POST
    mov $message, %si
    print_polled
    mov $0x11, %al
    out %al, $POST
    hlt
message:
    .asciz "Hello from real mode!\n"
