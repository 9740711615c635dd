# The paravirtual path in long mode: checks the hypercall ABI version, prints through the
# console-write hypercall, reads the monotonic clock twice, and exits with status 0 through the
# exit hypercall (any failed check exits with a non-zero status instead).
    .include "uart.inc"
    .code64
    .globl _start
_start:
    mov $HYPERCALL, %dx
    mov $HC_ABI_VERSION, %eax
    out %eax, %dx
    cmp $1, %rax
    jne wrong_version
    lea message(%rip), %rbx
    mov $message_end - message, %ecx
    mov $HC_CONSOLE_WRITE, %eax
    out %eax, %dx
    cmp $message_end - message, %rax
    jne write_failed
    mov $HC_MONOTONIC_TIME, %eax
    out %eax, %dx
    mov %rax, %r12
    mov $HC_MONOTONIC_TIME, %eax
    out %eax, %dx
    cmp %r12, %rax
    jb clock_went_back
    xor %ebx, %ebx
    jmp exit
wrong_version:
    mov $1, %ebx
    jmp exit
write_failed:
    mov $2, %ebx
    jmp exit
clock_went_back:
    mov $3, %ebx
exit:
    mov $HC_EXIT, %eax
    out %eax, %dx
    hlt                         # not reached: the exit hypercall ends the run
message:
    .ascii "Hello through the swift-vmm hypercall ABI!\n"
message_end:
