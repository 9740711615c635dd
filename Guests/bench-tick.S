# Benchmark ROM (64 KiB) for the platform: boots from the reset vector like a BIOS (so the same
# image runs on swift-vmm --firmware and QEMU -bios), programs the 8259 pair and the PIT for
# DIVISOR (1193182 Hz / DIVISOR interrupts per second on IRQ 0) and idles in `sti; hlt` until
# TICKS interrupts have come; the handler only counts and sends EOI. Then it writes 0 to the
# debug-exit port 0xF4 (QEMU's isa-debug-exit and ours). scripts/bench assembles it twice:
# DIVISOR=1193 TICKS=5000 for the idle guest (a 1000 Hz tick for 5 s) and DIVISOR=2 (faster
# than any engine delivers) for the interrupt round trip. Real mode; linked at 0, so offsets are
# offsets in segment F000.
    .ifndef DIVISOR
    .set DIVISOR, 1193
    .endif
    .ifndef TICKS
    .set TICKS, 5000
    .endif
    .include "pic.inc"
    .code16
    .globl _start
_start:
    cli
    xor %ax, %ax
    mov %ax, %ds
    mov %ax, %ss
    mov $0x7000, %sp
    movl $0, 0x500
    movw $tick, 0x08 * 4                 # IVT entry for IRQ 0: F000:tick
    movw $0xf000, 0x08 * 4 + 2
    init_pics 0xfe
    mov $0x34, %al                       # PIT channel 0, mode 2
    out %al, $0x43
    mov $DIVISOR & 0xff, %al
    out %al, $0x40
    mov $DIVISOR >> 8, %al
    out %al, $0x40
1:  sti
    hlt
    cli
    cmpl $TICKS, 0x500
    jb 1b
    xor %al, %al
    out %al, $0xf4
    hlt

tick:
    incl %ss:0x500                       # the count, in RAM (the ROM is read-only)
    push %ax
    mov $PIC_EOI, %al
    out %al, $PIC1_COMMAND
    pop %ax
    iret

    .org 0xFFF0                          # the reset vector, F000:FFF0
    ljmp $0xF000, $_start
    .org 0x10000
