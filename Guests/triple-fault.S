# Protected mode with an empty IDT: the divide error cannot be delivered, the resulting #GP and
# double fault cannot either, and the CPU shuts down (a triple fault).
    .code32
    .globl _start
_start:
    lidt empty_idt
    xor %ecx, %ecx
    div %ecx
    hlt                         # not reached
empty_idt:
    .word 0
    .long 0
