# Real mode: an interrupt storm. The UART's THR-empty interrupt (IER bit 1) holds IRQ 4 high until
# the guest reads IIR, which this handler never does: it only sends EOI, and with IRQ 4
# level-triggered (ELCR) the PIC delivers it again at once, forever. The VMM must still stop it on
# --timeout or Ctrl-C.
    .include "uart.inc"
    .include "pic.inc"
    .code16
    .globl _start
_start:
    xor %ax, %ax
    mov %ax, %ds
    mov %ax, %ss
    mov $0x7c00, %sp
    movw $storm, 0x0c * 4                # IVT entry for IRQ 4 (vector 0x0C)
    movw $0, 0x0c * 4 + 2
    init_pics 0xef                       # only IRQ 4
    mov $0x4d0, %dx                      # ELCR: IRQ 4 level-triggered
    mov $0x10, %al
    out %al, %dx
    mov $COM1 + 4, %dx                   # MCR: OUT2 lets the UART's interrupt reach the PIC
    mov $0x08, %al
    out %al, %dx
    mov $COM1 + 1, %dx                   # IER: transmitter holding register empty
    mov $0x02, %al
    out %al, %dx
    sti
1:  hlt
    jmp 1b

storm:
    push %ax
    mov $PIC_EOI, %al
    out %al, $PIC1_COMMAND
    pop %ax
    iret
