# Real mode: programs the 8259A pair and the 8254 PIT for a 1000 Hz tick on IRQ 0, waits in
# HLT for 50 ticks (the handler counts them and sends EOI), reads the RTC's seconds, prints a
# line, and stops with cli; hlt. Loaded at 0x7C00 and entered at 0000:7C00 with IF clear.
    .include "uart.inc"
    .include "pit.inc"
    .include "pic.inc"
    .code16
    .set TICK_VECTOR, 0x08
    .set TICKS, 50
    .globl _start
_start:
    xor %ax, %ax
    mov %ax, %ds
    mov %ax, %ss
    mov $0x7c00, %sp
    movw $tick, TICK_VECTOR * 4          # IVT entry for IRQ 0: 0000:tick
    movw $0, TICK_VECTOR * 4 + 2

    init_pics 0xfe                       # only IRQ 0 unmasked

    pit_rate 1193                        # 1000 Hz on IRQ 0

    sti
1:  hlt                                  # woken by each tick
    cmpw $TICKS, ticks
    jb 1b
    cli

    mov $message, %si
    print_polled
    hlt

tick:
    incw %cs:ticks
    push %ax
    mov $PIC_EOI, %al                    # non-specific EOI
    out %al, $PIC1_COMMAND
    pop %ax
    iret

ticks:
    .word 0
message:
    .asciz "50 timer ticks at 1000 Hz through the PIC\n"
