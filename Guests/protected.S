# 32-bit protected mode, paging off: prints a line on COM1 and halts.
# Built as a flat binary (loaded at 0x100000) and as an ELF32 executable.
    .include "uart.inc"
    .code32
    .globl _start
_start:
    mov $message, %esi
next_char:
    lodsb
    test %al, %al
    jz done
    mov %al, %bl
    mov $COM1_LSR, %dx
wait_ready:
    in %dx, %al
    test $LSR_THR_EMPTY, %al
    jz wait_ready
    mov $COM1, %dx
    mov %bl, %al
    out %al, %dx
    jmp next_char
done:
    hlt
message:
    .asciz "Hello from 32-bit protected mode!\n"
