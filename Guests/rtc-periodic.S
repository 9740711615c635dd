# Real mode: the CMOS RTC's periodic interrupt (register A rate 6: 1024 Hz, register B PIE) on
# IRQ 8, through the slave 8259 cascaded on IRQ 2. The handler reads register C (which ends the
# interrupt at the RTC) and sends EOI to both PICs; after 64 interrupts the guest prints a line
# and stops with cli; hlt. Loaded at 0x7C00 and entered at 0000:7C00 with IF clear.
    .include "uart.inc"
    .include "pic.inc"
    .code16
    .globl _start
_start:
    xor %ax, %ax
    mov %ax, %ds
    mov %ax, %ss
    mov $0x7c00, %sp
    movw $rtc, 0x70 * 4                  # IVT entry for IRQ 8 (the slave's base 0x70)
    movw $0, 0x70 * 4 + 2
    init_pics 0xfb                       # master: only the cascade (IRQ 2)
    mov $0xfe, %al                       # slave: only IRQ 8
    out %al, $PIC2_DATA
    mov $0x8a, %al                       # register A (NMI masked while we program it)
    out %al, $0x70
    mov $0x26, %al                       # 32.768 kHz time base, rate 6: 1024 Hz
    out %al, $0x71
    mov $0x8b, %al                       # register B: set PIE, keep the rest
    out %al, $0x70
    in $0x71, %al
    or $0x40, %al
    mov %al, %ah
    mov $0x8b, %al
    out %al, $0x70
    mov %ah, %al
    out %al, $0x71
    mov $0x0c, %al                       # NMI unmasked again; clear anything pending in C
    out %al, $0x70
    in $0x71, %al
    sti
1:  hlt
    cmpw $64, ticks
    jb 1b
    cli
    mov $message, %si
    print_polled
    hlt

rtc:
    push %ax
    incw %cs:ticks
    mov $0x0c, %al                       # read register C: acknowledges the RTC
    out %al, $0x70
    in $0x71, %al
    mov $PIC_EOI, %al
    out %al, $PIC2_COMMAND
    out %al, $PIC1_COMMAND
    pop %ax
    iret

ticks:
    .word 0
message:
    .asciz "64 RTC periodic interrupts at 1024 Hz through the slave PIC\n"
