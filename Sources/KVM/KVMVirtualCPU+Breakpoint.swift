import CKVM
import VMCore

extension KVMVirtualCPU {
    /// Does what the CPU does for an INT3 that PVM's CPL 0 emulator stopped on ("emulation
    /// failure" at the byte 0xCC): RIP past the instruction, then #BP, a trap, delivered through
    /// the guest's IDT (KVM_SET_VCPU_EVENTS; measured to work on PVM with raw ioctls). Linux
    /// runs an int3 self-test early in boot and patches live code through int3 (`text_poke_bp`),
    /// so without this no stock kernel gets past "x86/fpu: x87 FPU will use FXSAVE" there.
    /// At CPL 0 in long mode an INT3 and a #BP differ in nothing the guest can see.
    func deliverBreakpoint() throws(CPUError) {
        var registers = try registers()
        registers.rip &+= 1
        try setRegisters(registers)
        var events = kvm_vcpu_events()
        try check(ckvm_get_vcpu_events(fd.rawValue, &events), "KVM_GET_VCPU_EVENTS")
        events.exception.injected = 1
        events.exception.nr = 3  // #BP
        events.exception.has_error_code = 0
        events.exception.error_code = 0
        events.flags = 0  // only the exception changes: NMI, SIPI and shadow state stay as read
        try check(ckvm_set_vcpu_events(fd.rawValue, &events), "KVM_SET_VCPU_EVENTS")
    }
}
