# Long mode: spins forever without an exit, for the --timeout and signal tests.
    .code64
    .globl _start
_start:
    jmp _start
