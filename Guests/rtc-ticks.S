# Real mode: a 1000 Hz PIT tick through the PIC, counted over one second of the CMOS RTC (see
# rtc-ticks.inc). Loaded at 0x7C00 and entered at 0000:7C00 with IF clear.
    .include "uart.inc"
    .include "pic.inc"
    .include "rtc-ticks.inc"
    .code16
    .globl _start
_start:
    xor %ax, %ax
    mov %ax, %ds
    mov %ax, %ss
    mov $0x7c00, %sp
    movw $tick, 0x08 * 4                 # IVT entry for IRQ 0: 0000:tick
    movw $0, 0x08 * 4 + 2
    init_pics 0xfe
    mov $0x34, %al                       # PIT channel 0, mode 2, 1193182 / 1193 = 1000 Hz
    out %al, $0x43
    mov $1193 & 0xff, %al
    out %al, $0x40
    mov $1193 >> 8, %al
    out %al, $0x40
    sti
    count_ticks_per_rtc_second si
    print_polled
    hlt

tick:
    incw %cs:ticks
    push %ax
    mov $PIC_EOI, %al
    out %al, $PIC1_COMMAND
    pop %ax
    iret

ticks:
    .word 0
ticks_ok:
    .asciz "PIT ticks in one RTC second: 1000 within 5%\n"
ticks_bad:
    .asciz "PIT ticks in one RTC second: not within 5% of 1000\n"
