# The smallest guest: HLT. Used to time VM creation to the first guest exit.
    .code32
    .globl _start
_start:
    hlt
