# 64-bit long mode at CPL 0: the local APIC timer in periodic mode (50 ticks of 1 ms: the APIC
# timer counts at 1 GHz with divide-by-1, as on KVM), then in TSC-deadline mode (20 deadlines,
# each 1,000,000 TSC cycles ahead), then the PIT's IRQ 0 through I/O APIC pin 0 (20 ticks at
# 1000 Hz; pin 0 in KVM's default routing and ours: no pin-2 override). Every handler counts and
# writes the LAPIC's EOI register. The 8259 pair stays masked and LINT0 off, so nothing arrives by
# the legacy path. Prints a line and stops with cli; hlt.
    .include "uart.inc"
    .include "idt64.inc"
    .include "pit.inc"
    .code64
    .set LAPIC, 0xfee00000
    .set LAPIC_SVR, 0xf0
    .set LAPIC_EOI, 0xb0
    .set LAPIC_LVT_TIMER, 0x320
    .set LAPIC_LVT_LINT0, 0x350
    .set LAPIC_TIMER_INITIAL, 0x380
    .set LAPIC_TIMER_DIVIDE, 0x3e0
    .set IOAPIC, 0xfec00000
    .set MSR_TSC_DEADLINE, 0x6e0
    .set PERIODIC_VECTOR, 0x20
    .set DEADLINE_VECTOR, 0x21
    .set PIT_VECTOR, 0x30
    .globl _start
_start:
    lea stack_top(%rip), %rsp
    idt64_gate PERIODIC_VECTOR, periodic_tick
    idt64_gate DEADLINE_VECTOR, deadline_tick
    idt64_gate PIT_VECTOR, pit_tick
    lidt idt_pointer(%rip)

    mov $0xff, %al                       # mask both 8259s
    out %al, $0x21
    out %al, $0xa1
    mov $LAPIC, %rbx
    movl $0x1ff, LAPIC_SVR(%rbx)         # software-enable, spurious vector 0xff
    movl $0x10000, LAPIC_LVT_LINT0(%rbx) # LINT0 masked: no ExtINT from the 8259
    movl $0xb, LAPIC_TIMER_DIVIDE(%rbx)  # divide by 1

    # Periodic: 1,000,000 bus cycles = 1 ms.
    movl $(1 << 17) | PERIODIC_VECTOR, LAPIC_LVT_TIMER(%rbx)
    movl $1000000, LAPIC_TIMER_INITIAL(%rbx)
    sti
1:  hlt
    cmpl $50, periodic_ticks(%rip)
    jb 1b
    cli
    movl $0, LAPIC_TIMER_INITIAL(%rbx)   # stop it
    movl $0x10000, LAPIC_LVT_TIMER(%rbx)

    # TSC deadline: one interrupt per deadline; the MSR reads 0 once it fired.
    movl $(2 << 17) | DEADLINE_VECTOR, LAPIC_LVT_TIMER(%rbx)
2:  rdtsc
    shl $32, %rdx
    or %rdx, %rax
    add $1000000, %rax
    mov %rax, %rdx
    shr $32, %rdx
    mov $MSR_TSC_DEADLINE, %ecx
    mov deadline_ticks(%rip), %r8d
    wrmsr
3:  cli                                  # test with IF clear, halt in STI's shadow: a
    cmp deadline_ticks(%rip), %r8d       # deadline firing in between cannot be missed
    jne 4f
    sti
    hlt
    jmp 3b
4:
    rdmsr                                # fired: the deadline reads 0
    or %edx, %eax
    jnz fail
    cmpl $20, deadline_ticks(%rip)
    jb 2b
    movl $0x10000, LAPIC_LVT_TIMER(%rbx)

    # I/O APIC pin 0 (ISA IRQ 0): fixed, edge, physical destination APIC 0.
    mov $IOAPIC, %rcx
    movl $0x10 + 1, (%rcx)               # redirection entry 0, high half: destination 0
    movl $0, 0x10(%rcx)
    movl $0x10, (%rcx)                   # low half: vector, unmasked
    movl $PIT_VECTOR, 0x10(%rcx)
    pit_rate 1193                        # 1000 Hz on IRQ 0
    sti
4:  hlt
    cmpl $20, pit_ticks(%rip)
    jb 4b
    cli
    movl $0x10, (%rcx)                   # mask the pin again
    movl $0x10000 | PIT_VECTOR, 0x10(%rcx)

    lea message(%rip), %rsi
    print_polled
    hlt
fail:
    lea failure(%rip), %rsi
    print_polled
    hlt

periodic_tick:
    incl periodic_ticks(%rip)
    jmp eoi
deadline_tick:
    incl deadline_ticks(%rip)
    jmp eoi
pit_tick:
    incl pit_ticks(%rip)
eoi:
    push %rax
    mov $LAPIC, %rax
    movl $0, LAPIC_EOI(%rax)
    pop %rax
    iretq

message:
    .asciz "50 periodic and 20 TSC-deadline LAPIC timer ticks, 20 PIT ticks through the I/O APIC\n"
failure:
    .asciz "the TSC deadline did not read 0 after it fired\n"

    .data
    .balign 16
idt_pointer:
    .word 256 * 16 - 1
    .quad idt
periodic_ticks: .long 0
deadline_ticks: .long 0
pit_ticks: .long 0
    .balign 16
idt:
    .fill 256 * 16, 1, 0
stack:
    .fill 1024, 1, 0
stack_top:
