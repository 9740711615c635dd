# Real mode: starts COM1 as Linux's 8250 driver does, with host input already waiting. It resets
# the FIFOs and reads the receiver twice, 50 ms apart (serial8250_clear_fifos and the reads after
# it, which drop whatever has arrived), and only then opens the receiver: MCR.OUT2 and IER's
# received-data bit. From there it echoes as serial-echo does (IRQ 4, HLT in between) until a
# 'q'. Every byte of the input comes back only if the VMM holds it until the receiver is open.
# Loaded at 0x7C00 and entered at 0000:7C00 with IF clear.
    .include "uart.inc"
    .include "pic.inc"
    .code16
    .set COM1_IER, 0x3f9
    .set COM1_IIR_FCR, 0x3fa
    .set COM1_MCR, 0x3fc
    .set COM1_MSR, 0x3fe
    .set LSR_DATA_READY, 0x01
    .set IRQ4_VECTOR, 0x0c
    .set WAIT_NANOSECONDS, 50000000
    .globl _start
_start:
    xor %ax, %ax
    mov %ax, %ds
    mov %ax, %ss
    mov $0x7c00, %sp
    movw $received, IRQ4_VECTOR * 4
    movw $0, IRQ4_VECTOR * 4 + 2

    init_pics 0xef                       # only IRQ 4 unmasked

    call reset_receiver
    mov $HYPERCALL, %dx                  # wait, so that input handed over early would arrive now
    mov $HC_MONOTONIC_TIME, %eax
    out %eax, %dx
    mov %eax, %ebx
1:  mov $HC_MONOTONIC_TIME, %eax
    out %eax, %dx
    sub %ebx, %eax                       # the low 32 bits of the clock: wrap-safe for 50 ms
    cmp $WAIT_NANOSECONDS, %eax
    jb 1b
    call reset_receiver

    mov $COM1_MCR, %dx
    mov $0x08, %al                       # OUT2: the UART's interrupt reaches the PIC
    out %al, %dx
    mov $COM1_IER, %dx
    mov $0x01, %al                       # interrupt on received data: the receiver is open
    out %al, %dx

1:  cli                                  # as serial-echo: test `done` with IF clear, halt in STI's shadow
    cmpb $0, done
    jne 2f
    sti
    hlt
    jmp 1b
2:  hlt

reset_receiver:                          # FIFOs on, both cleared, off; then LSR, RBR, IIR, MSR read
    mov $COM1_IIR_FCR, %dx
    mov $0x01, %al
    out %al, %dx
    mov $0x07, %al
    out %al, %dx
    mov $0x00, %al
    out %al, %dx
    mov $COM1_LSR, %dx
    in %dx, %al
    mov $COM1, %dx
    in %dx, %al
    mov $COM1_IIR_FCR, %dx
    in %dx, %al
    mov $COM1_MSR, %dx
    in %dx, %al
    ret

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
