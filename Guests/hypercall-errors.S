# Long mode: hostile hypercall arguments get errors, not crashes. A console write from outside
# guest memory gets -EFAULT, an oversized one -EINVAL, an unknown call -ENOSYS. Exits through
# the exit hypercall with 42 when every check passes, else the failing check.
    .include "uart.inc"
    .code64
    .globl _start
_start:
    mov $HYPERCALL, %dx
    mov $HC_CONSOLE_WRITE, %eax
    mov $0xfffffffffffffff0, %rbx   # address + length wraps around
    mov $0x20, %ecx
    out %eax, %dx
    mov $1, %r8d
    cmp $-14, %rax
    jne fail
    mov $HC_CONSOLE_WRITE, %eax
    mov $0x100000, %ebx
    mov $0x7fffffff, %ecx           # larger than the 1 MiB limit
    out %eax, %dx
    mov $2, %r8d
    cmp $-22, %rax
    jne fail
    mov $HC_CONSOLE_WRITE, %eax
    mov $0x40000000, %ebx           # past the end of guest RAM
    mov $1, %ecx
    out %eax, %dx
    mov $3, %r8d
    cmp $-14, %rax
    jne fail
    mov $0x7777, %eax               # no such call
    out %eax, %dx
    mov $4, %r8d
    cmp $-38, %rax
    jne fail
    mov $42, %r8d
fail:
    mov %r8, %rbx
    mov $HC_EXIT, %eax
    out %eax, %dx
