# A multiboot v1 kernel (ELF32). Checks the bootloader magic in EAX, then prints the command line
# and the first module's contents from the multiboot information that EBX points to, and halts.
# Exits through debug-exit with 0x10 if EAX is wrong and 0x11 if there is no module.
    .include "uart.inc"
    .set MB_MAGIC, 0x1badb002
    .set MB_FLAGS, 0x3          # page-aligned modules, memory information
    .section .multiboot, "a"
    .align 4
    .long MB_MAGIC, MB_FLAGS, -(MB_MAGIC + MB_FLAGS)

    .text
    .code32
    .globl _start
_start:
    cmp $0x2badb002, %eax
    jne bad_magic
    mov %ebx, %edi              # EDI = multiboot information
    lea cmdline_label, %esi
    call puts
    mov 16(%edi), %esi          # cmdline
    call puts
    lea newline, %esi
    call puts
    testl $0x8, (%edi)          # flags: mods_* valid
    jz no_module
    cmpl $0, 20(%edi)           # mods_count
    je no_module
    lea module_label, %esi
    call puts
    mov 24(%edi), %ebx          # mods_addr -> first module
    mov (%ebx), %esi            # mod_start
    mov 4(%ebx), %ecx           # mod_end
    sub %esi, %ecx
    mov $COM1, %dx
    rep outsb
    hlt
no_module:
    mov $0x11, %al
    out %al, $DEBUG_EXIT
bad_magic:
    mov $0x10, %al
    out %al, $DEBUG_EXIT

# Prints the NUL-terminated string at ESI.
puts:
    mov $COM1, %dx
1:  lodsb
    test %al, %al
    jz 2f
    out %al, %dx
    jmp 1b
2:  ret

cmdline_label: .asciz "multiboot command line: "
module_label:  .asciz "first module: "
newline:       .asciz "\n"
