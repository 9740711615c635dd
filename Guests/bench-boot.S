# Benchmark ROM (64 KiB): boots itself from the reset vector like a BIOS, so the same image runs on
# swift-vmm (--firmware), Bochs and QEMU. Real mode -> protected mode -> long mode on a 2 MiB
# identity page it builds at 0x1000, then one of three workloads ITERATIONS times, then it
# stops: "Shutdown" to port 0x8900 (Bochs), and 0 to the debug-exit port 0xF4 (QEMU, swift-vmm).
#   LOOP=1  the ALU loop of bench-loops.inc (4 instructions, as bench-alu.S)
#   LOOP=2  the call/memory loop of bench-loops.inc (9 instructions, as bench-call.S)
#   LOOP=3  bench/compute.c (sieve, shell sort, hash, CRC-32; gcc -O2), ITERATIONS rounds, its
#           .text included from compute.bin; the result is left in R15
#   LOOP=4  bench/compute-sse.c (SSE2 strings, doubles, streaming copy; gcc -O2 -msse2), with
#           CR4.OSFXSR/OSXMMEXCPT set first, from compute-sse.bin; the result in R15
# scripts/bench assembles it with two ITERATIONS values and times the difference, so start-up
# costs cancel out. Linked at 0: the ROM's offsets are offsets in segment F000.
    .ifndef ITERATIONS
    .set ITERATIONS, 1
    .endif
    .ifndef LOOP
    .set LOOP, 1
    .endif
    .include "bench-loops.inc"
    .code16
    .globl _start
_start:
    cli
    xorw %ax, %ax
    movw %ax, %ds
    movw %ax, %es
    movw %ax, %ss
    movw $0x7000, %sp
    movw $0x1000, %di           # zero the three table pages at 0x1000-0x3FFF
    movw $0x1800, %cx
    cld
    rep stosw
    movl $0x2003, 0x1000        # PML4[0] -> PDPT
    movl $0x3003, 0x2000        # PDPT[0] -> PD
    movl $0x0083, 0x3000        # PD[0]: 2 MiB page at 0
    lgdtl %cs:gdt_pointer
    movl %cr0, %eax
    orl $1, %eax
    movl %eax, %cr0
    ljmpl $0x08, $(0xF0000 + protected32)

    .code32
protected32:
    movw $0x10, %ax
    movw %ax, %ds
    movw %ax, %es
    movw %ax, %ss
    movl %cr4, %eax
    orl $0x20, %eax             # PAE
    movl %eax, %cr4
    movl $0x1000, %eax
    movl %eax, %cr3
    movl $0xC0000080, %ecx      # EFER.LME
    rdmsr
    orl $0x100, %eax
    wrmsr
    movl %cr0, %eax
    orl $0x80000000, %eax       # paging on: long mode active
    movl %eax, %cr0
    ljmp $0x18, $(0xF0000 + long64)

    .code64
long64:
    mov $0x7000, %esp
    .if LOOP == 1
    alu_loop ITERATIONS
    .elseif LOOP == 2
    call_loop ITERATIONS
    .elseif LOOP == 3
    mov $0x100000, %edi         # scratch memory for compute(scratch, rounds)
    mov $ITERATIONS, %esi
    call compute
    mov %rax, %r15
    .else
    mov %cr4, %rax
    or $0x600, %rax             # OSFXSR, OSXMMEXCPT: SSE enabled
    mov %rax, %cr4
    mov $0x100000, %edi         # scratch memory for compute_sse(scratch, rounds)
    mov $ITERATIONS, %esi
    call compute_sse
    mov %rax, %r15
    .endif
    mov $0x8900, %dx
    lea shutdown(%rip), %rsi
    mov $8, %ecx
    rep outsb
    xor %eax, %eax
    out %al, $0xF4
    hlt

    .if LOOP == 2
    call_loop_work
    .endif
    .if LOOP == 3
compute:
    .incbin "compute.bin"
    .endif
    .if LOOP == 4
    .align 16
compute_sse:
    .incbin "compute-sse.bin"
    .endif

shutdown:
    .ascii "Shutdown"
    .align 8
gdt:
    .quad 0
    .quad 0x00CF9A000000FFFF    # 0x08: 32-bit code
    .quad 0x00CF92000000FFFF    # 0x10: data
    .quad 0x00AF9A000000FFFF    # 0x18: 64-bit code
gdt_pointer:
    .word 31
    .long 0xF0000 + gdt

    .code16
    .org 0xFFF0                 # the reset vector, F000:FFF0
    ljmp $0xF000, $_start
    .org 0x10000
