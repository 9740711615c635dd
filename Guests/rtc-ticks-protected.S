# 32-bit protected mode (flat segments, paging off): a 1000 Hz PIT tick through the PIC into a
# 32-bit interrupt gate, counted over one second of the CMOS RTC (see rtc-ticks.inc).
    .include "uart.inc"
    .include "rtc-ticks.inc"
    .code32
    .set PIC1_COMMAND, 0x20
    .set PIC_EOI, 0x20
    .globl _start
_start:
    mov $stack_top, %esp
    mov $tick, %eax                      # IDT entry 0x20 (IRQ 0 with the PIC based at 0x20)
    mov %ax, idt + 0x20 * 8
    mov %cs, %dx
    mov %dx, idt + 0x20 * 8 + 2
    movw $0x8e00, idt + 0x20 * 8 + 4
    shr $16, %eax
    mov %ax, idt + 0x20 * 8 + 6
    lidt idt_pointer
    # The 8259 pair: vectors 0x20-0x27 and 0x28-0x2F (out of the exceptions' way), only IRQ 0.
    mov $0x11, %al
    out %al, $0x20
    out %al, $0xa0
    mov $0x20, %al
    out %al, $0x21
    mov $0x28, %al
    out %al, $0xa1
    mov $0x04, %al
    out %al, $0x21
    mov $0x02, %al
    out %al, $0xa1
    mov $0x01, %al
    out %al, $0x21
    out %al, $0xa1
    mov $0xfe, %al
    out %al, $0x21
    mov $0xff, %al
    out %al, $0xa1
    mov $0x34, %al                       # PIT channel 0, mode 2, 1000 Hz
    out %al, $0x43
    mov $1193 & 0xff, %al
    out %al, $0x40
    mov $1193 >> 8, %al
    out %al, $0x40
    sti
    count_ticks_per_rtc_second esi
    print_polled
    hlt

tick:
    incw ticks
    push %eax
    mov $PIC_EOI, %al
    out %al, $PIC1_COMMAND
    pop %eax
    iret

ticks:
    .word 0
ticks_ok:
    .asciz "PIT ticks in one RTC second: 1000 within 5%\n"
ticks_bad:
    .asciz "PIT ticks in one RTC second: not within 5% of 1000\n"
    .balign 8
idt_pointer:
    .word 256 * 8 - 1
    .long idt
idt:
    .fill 256 * 8, 1, 0
stack:
    .fill 1024, 1, 0
stack_top:
