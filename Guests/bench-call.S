# Benchmark guest (long mode): a memory- and call-heavy loop of 9 instructions (CALL, PUSH, two
# loads, a store, POP, RET, a read-modify-write, DEC, JNZ), 2,000,000 times (18,000,002
# instructions in all), then HLT.
    .code64
    .globl _start
_start:
    mov $2000000, %ecx
1:  call work               # call, then 5 instructions in work
    add %rax, (%rsp)        # scratch below the return address is fine: RSP is back above it
    dec %ecx
    jnz 1b
    hlt
work:
    push %rbx
    mov 8(%rsp), %rax
    pop %rbx
    mov %rax, -16(%rsp)
    ret
