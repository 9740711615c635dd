# Long mode: checks the rules for unclaimed addresses. An unclaimed port reads as all ones at
# every width, an unclaimed MMIO address reads as zero, and writes to either are dropped.
# Exits through debug-exit with 0 (status 1) when every check passes, else the failing check.
    .include "uart.inc"
    .code64
    .globl _start
_start:
    mov $0x1234, %dx            # no device here
    mov $0x77, %al
    out %al, %dx                # dropped
    in %dx, %al
    mov $1, %bl
    cmp $0xff, %al
    jne fail
    in %dx, %ax
    mov $2, %bl
    cmp $0xffff, %ax
    jne fail
    in %dx, %eax
    mov $3, %bl
    cmp $0xffffffff, %eax
    jne fail
    mov $0xd0000000, %rdi       # identity-mapped, but no RAM there: an MMIO exit
    movl $0x12345678, (%rdi)    # dropped
    mov (%rdi), %eax
    mov $4, %bl
    test %eax, %eax
    jnz fail
    xor %bl, %bl
fail:
    mov %bl, %al
    out %al, $DEBUG_EXIT
