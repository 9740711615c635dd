# Real mode: echoes what arrives on COM1, taking the UART's received-data interrupt (IRQ 4)
# through the 8259A and sleeping in HLT in between; stops at a 'q' with cli; hlt. Loaded at
# 0x7C00 and entered at 0000:7C00 with IF clear.
    .include "uart.inc"
    .include "pic.inc"
    .code16
    .set COM1_IER, 0x3f9
    .set COM1_MCR, 0x3fc
    .set LSR_DATA_READY, 0x01
    .set IRQ4_VECTOR, 0x0c
    .globl _start
_start:
    xor %ax, %ax
    mov %ax, %ds
    mov %ax, %ss
    mov $0x7c00, %sp
    movw $received, IRQ4_VECTOR * 4
    movw $0, IRQ4_VECTOR * 4 + 2

    init_pics 0xef                       # only IRQ 4 unmasked

    mov $COM1_MCR, %dx
    mov $0x08, %al                       # OUT2: the UART's interrupt reaches the PIC
    out %al, %dx
    mov $COM1_IER, %dx
    mov $0x01, %al                       # interrupt on received data
    out %al, %dx

    # Test `done` with interrupts off and halt in STI's shadow: an interrupt that sets it between
    # the test and the HLT would otherwise leave the guest halted with nothing more to come.
1:  cli
    cmpb $0, done
    jne 2f
    sti
    hlt                                  # woken by each interrupt
    jmp 1b
2:  hlt

received:                                # drain the receiver, echoing, until it is empty
    push %ax
    push %dx
2:  mov $COM1_LSR, %dx
    in %dx, %al
    test $LSR_DATA_READY, %al
    jz 3f
    mov $COM1, %dx
    in %dx, %al
    cmp $'q', %al
    je 4f
    out %al, %dx
    jmp 2b
4:  movb $1, %cs:done
3:  mov $PIC_EOI, %al                    # non-specific EOI
    out %al, $PIC1_COMMAND
    pop %dx
    pop %ax
    iret

done:
    .byte 0
