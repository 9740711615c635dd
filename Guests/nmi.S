# 64-bit long mode at CPL 0: NMIs through the local APIC. A self-NMI (ICR: delivery mode NMI,
# shorthand self) reaches the vector 2 handler; that handler sends a second one, which must wait
# until the first handler's IRET (NMIs do not nest), then run. Prints a line and stops.
    .include "uart.inc"
    .code64
    .set LAPIC, 0xfee00000
    .set ICR_SELF_NMI, (1 << 18) | (4 << 8)
    .globl _start
_start:
    lea stack_top(%rip), %rsp
    lea idt(%rip), %rdi
    add $2 * 16, %rdi                    # vector 2
    lea nmi(%rip), %rax
    mov %ax, (%rdi)
    mov %cs, %dx
    mov %dx, 2(%rdi)
    movw $0x8e00, 4(%rdi)
    shr $16, %rax
    mov %ax, 6(%rdi)
    shr $16, %rax
    mov %eax, 8(%rdi)
    lidt idt_pointer(%rip)
    mov $LAPIC, %rbx
    movl $0x1ff, 0xf0(%rbx)              # software-enable
    movl $ICR_SELF_NMI, 0x300(%rbx)      # NMIs arrive with IF clear too
    mov $200000, %ecx                    # wait for both (an emulated CPU may take a while)
1:  cmpl $2, taken(%rip)
    jae 2f
    pause
    loop 1b
2:  cmpl $2, taken(%rip)
    jne wrong
    cmpl $1, nested(%rip)                # the first handler saw no second NMI before its IRET
    jne wrong
    lea right(%rip), %rsi
    print_polled
    hlt
wrong:
    lea bad(%rip), %rsi
    print_polled
    hlt

nmi:
    incl taken(%rip)
    cmpl $1, taken(%rip)
    jne 2f
    push %rcx
    movl $ICR_SELF_NMI, 0x300(%rbx)      # the second NMI: blocked while this handler runs
    mov $1000, %ecx
1:  pause
    loop 1b
    pop %rcx
    mov taken(%rip), %eax                # still 1: not taken inside this handler
    mov %eax, nested(%rip)
2:  iretq

right:
    .asciz "two self-NMIs taken, the second after the first handler's IRET\n"
bad:
    .asciz "NMIs were lost or nested\n"

    .data
taken: .long 0
nested: .long 0
    .balign 16
idt_pointer:
    .word 256 * 16 - 1
    .quad idt
    .balign 16
idt:
    .fill 256 * 16, 1, 0
stack:
    .fill 1024, 1, 0
stack_top:
