# 64-bit long mode at CPL 0: finds kvmclock through the hypervisor CPUID leaves, enables it, and
# checks it against the local APIC timer: a 10 ms one-shot (10,000,000 bus cycles at 1 GHz) must
# take 10-30 ms of kvmclock time (system_time + scaled TSC delta, as Linux's pvclock reads it).
# Then reads the wall clock through MSR_KVM_WALL_CLOCK_NEW and checks it is after 2023. Prints
# one line per check and stops with cli; hlt.
    .include "uart.inc"
    .include "idt64.inc"
    .code64
    .set LAPIC, 0xfee00000
    .set MSR_KVM_WALL_CLOCK_NEW, 0x4b564d00
    .set MSR_KVM_SYSTEM_TIME_NEW, 0x4b564d01
    .set TIMER_VECTOR, 0x22
    .globl _start
_start:
    lea stack_top(%rip), %rsp
    mov $0x40000000, %eax
    cpuid
    cmp $0x4b4d564b, %ebx                # "KVMK"
    jne no_kvm
    cmp $0x564b4d56, %ecx                # "VMKV"
    jne no_kvm
    cmp $0x4d, %edx                      # "M\0\0\0"
    jne no_kvm
    cmp $0x40000001, %eax
    jb no_kvm
    mov $0x40000001, %eax
    cpuid
    test $1 << 3, %eax                   # KVM_FEATURE_CLOCKSOURCE2
    jz no_kvm
    lea found(%rip), %rsi
    print_polled

    lea pvclock(%rip), %rax              # enable: the structure's address | 1
    or $1, %rax
    mov %rax, %rdx
    shr $32, %rdx
    mov $MSR_KVM_SYSTEM_TIME_NEW, %ecx
    wrmsr

    # The LAPIC timer's vector in the IDT, one-shot 10 ms.
    idt64_gate TIMER_VECTOR, timer_tick
    lidt idt_pointer(%rip)
    mov $0xff, %al
    out %al, $0x21
    out %al, $0xa1
    mov $LAPIC, %rbx
    movl $0x1ff, 0xf0(%rbx)              # software-enable
    movl $0xb, 0x3e0(%rbx)               # divide by 1
    movl $TIMER_VECTOR, 0x320(%rbx)      # one-shot

    call kvmclock_now
    mov %rax, %r12
    movl $10000000, 0x380(%rbx)          # 10 ms
1:  cli                                  # test with IF clear, halt in STI's shadow: a
    cmpb $0, fired(%rip)                 # one-shot firing in between cannot be missed
    jne 2f
    sti
    hlt
    jmp 1b
2:
    call kvmclock_now
    sub %r12, %rax
    cmp $10000000, %rax
    jb bad_clock
    cmp $30000000, %rax
    ja bad_clock
    lea agrees(%rip), %rsi
    print_polled

    lea wall(%rip), %rax
    mov %rax, %rdx
    shr $32, %rdx
    mov $MSR_KVM_WALL_CLOCK_NEW, %ecx
    wrmsr
    mov wall + 4(%rip), %eax             # seconds since 1970 at guest time 0
    cmp $1672531200, %eax                # 2023-01-01
    jb bad_wall
    lea wall_ok(%rip), %rsi
    print_polled
    hlt
no_kvm:
    lea missing(%rip), %rsi
    print_polled
    hlt
bad_clock:
    lea clock_bad(%rip), %rsi
    print_polled
    hlt
bad_wall:
    lea wall_bad(%rip), %rsi
    print_polled
    hlt

# kvmclock_now: RAX = system_time + ((TSC - tsc_timestamp) shifted by tsc_shift) * mul >> 32,
# read until the version is even and unchanged. Clobbers RCX, RDX, RSI, RDI, R8.
kvmclock_now:
    lea pvclock(%rip), %rdi
1:  mov (%rdi), %r8d                     # version
    test $1, %r8d
    jnz 1b
    rdtsc
    shl $32, %rdx
    or %rdx, %rax
    sub 8(%rdi), %rax                    # - tsc_timestamp
    movsbl 28(%rdi), %ecx                # tsc_shift (signed)
    test %ecx, %ecx
    js 2f
    shl %cl, %rax
    jmp 3f
2:  neg %ecx
    shr %cl, %rax
3:  mov 24(%rdi), %esi                   # tsc_to_system_mul
    mul %rsi
    shrd $32, %rdx, %rax
    add 16(%rdi), %rax                   # + system_time
    cmp (%rdi), %r8d
    jne 1b
    ret

timer_tick:
    movb $1, fired(%rip)
    push %rax
    mov $LAPIC, %rax
    movl $0, 0xb0(%rax)
    pop %rax
    iretq

found:
    .asciz "kvmclock advertised in CPUID 0x40000001\n"
agrees:
    .asciz "kvmclock agrees with a 10 ms LAPIC timer\n"
wall_ok:
    .asciz "kvmclock wall clock is after 2023\n"
missing:
    .asciz "no kvmclock in the hypervisor CPUID leaves\n"
clock_bad:
    .asciz "kvmclock disagrees with the LAPIC timer\n"
wall_bad:
    .asciz "kvmclock wall clock is before 2023\n"

    .data
    .balign 32
pvclock:
    .fill 32, 1, 0
wall:
    .fill 12, 1, 0
fired:
    .byte 0
    .balign 16
idt_pointer:
    .word 256 * 16 - 1
    .quad idt
    .balign 16
idt:
    .fill 256 * 16, 1, 0
stack:
    .fill 1024, 1, 0
stack_top:
