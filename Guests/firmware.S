# A 4 KiB PC firmware ROM. The VMM maps it so that it ends at 4 GiB and, aliased, at 1 MiB; the
# vCPU starts at the reset vector F000:FFF0 (the last 16 bytes), which jumps into the low alias.
# Offsets are linked relative to segment F000 (the ROM's first byte is F000:F000).
    .include "uart.inc"
    .code16
    .globl _start
_start:
    mov %cs, %ax                # F000 after the far jump
    mov %ax, %ds
    mov $0x01, %al
    out %al, $POST
    mov $message, %si
next_char:
    lodsb
    test %al, %al
    jz done
    mov $COM1, %dx
    out %al, %dx                # the UART sends at once; polling LSR is optional
    jmp next_char
done:
    mov $0x02, %al
    out %al, $POST
    hlt
message:
    .asciz "Hello from the firmware ROM!\n"

    .org 0xff0                  # the reset vector: F000:FFF0
reset_vector:
    ljmp $0xf000, $_start
    .org 0x1000
