# Long mode: probes COM1 the way Linux's 8250 driver does (autoconfig in 8250_port.c): scratch
# register, IER read-back, loopback modem status, FIFO identification, and a byte looped back
# through the receiver. Exits through debug-exit with 0 when it finds a 16550A, else the
# number of the failing check.
    .include "uart.inc"
    .code64
    .macro outb_to reg, value
    mov $(COM1 + \reg), %dx
    mov $\value, %al
    out %al, %dx
    .endm
    .macro expect reg, value, check
    mov $(COM1 + \reg), %dx
    in %dx, %al
    mov $\check, %bl
    cmp $\value, %al
    jne fail
    .endm
    .globl _start
_start:
    outb_to 7, 0xa5             # scratch register keeps what is written
    expect 7, 0xa5, 1
    outb_to 1, 0x00             # IER: written 0 reads 0 ...
    expect 1, 0x00, 2
    outb_to 1, 0x0f             # ... and 0x0F reads 0x0F
    expect 1, 0x0f, 3
    outb_to 1, 0x00
    outb_to 4, 0x1a             # MCR: loopback, RTS, OUT2 -> MSR shows CTS and DCD (0x90)
    mov $(COM1 + 6), %dx
    in %dx, %al
    and $0xf0, %al
    mov $4, %bl
    cmp $0x90, %al
    jne fail
    outb_to 2, 0x07             # FCR: enable and clear the FIFOs
    mov $(COM1 + 2), %dx        # IIR: FIFOs enabled (0xC0), no interrupt pending (0x01)
    in %dx, %al
    mov $5, %bl
    cmp $0xc1, %al
    jne fail
    outb_to 0, 0x5a             # looped back into the receiver, not sent to the console
    expect 5, 0x61, 6           # LSR: data ready, THR empty, transmitter empty
    expect 0, 0x5a, 7
    outb_to 4, 0x00             # loopback off
    xor %bl, %bl
fail:
    mov %bl, %al
    out %al, $DEBUG_EXIT
