import CKVM
import VMCore

// The vCPU state PC firmware leaves for an operating system and KVM does not set by itself, set
// once when the vCPU is made. Firecracker does the same before its first KVM_RUN for Linux
// (arch/x86_64 `setup_msrs`, `setup_fpu`, `set_lint`); a VMM without firmware has to.
extension KVMVirtualCPU {
    func setPowerOnState(hasInKernelLocalAPIC: Bool) throws(KVMError) {
        try setBootMSRs()
        try setFPUControl()
        if hasInKernelLocalAPIC { try setVirtualWire() }
    }

    /// MSR indices (SDM vol. 4; AMD APM vol. 2 for CSTAR).
    enum MSR {
        static let timeStampCounter: UInt32 = 0x10, miscEnable: UInt32 = 0x1A0
        static let sysenterCS: UInt32 = 0x174, sysenterESP: UInt32 = 0x175, sysenterEIP: UInt32 = 0x176
        static let star: UInt32 = 0xC000_0081, lstar: UInt32 = 0xC000_0082, cstar: UInt32 = 0xC000_0083, sfmask: UInt32 = 0xC000_0084
        static let kernelGSBase: UInt32 = 0xC000_0102
    }

    /// IA32_MISC_ENABLE: fast strings on (bit 0), BTS and PEBS unavailable (bits 11, 12, KVM's own
    /// reset value). Linux on an Intel identity turns off its `rep movs` memcpy without bit 0;
    /// an AMD identity never reads the MSR.
    static let miscEnableBootValue: UInt64 = 1 << 0 | 1 << 11 | 1 << 12

    /// The MSRs Firecracker sets for Linux: the SYSCALL/SYSENTER entry points and KERNEL_GS_BASE
    /// cleared (they are after a reset; KVM keeps whatever it has), the TSC started at 0, and
    /// MISC_ENABLE as above. MTRRdefType is left alone: the CPU model has no MTRRs, so the guest
    /// never reads it, and KVM maps guest memory write-back without a device needing otherwise.
    func setBootMSRs() throws(KVMError) {
        let msrs: [(UInt32, UInt64)] = [
            (MSR.sysenterCS, 0), (MSR.sysenterESP, 0), (MSR.sysenterEIP, 0), (MSR.star, 0), (MSR.cstar, 0), (MSR.kernelGSBase, 0),
            (MSR.sfmask, 0), (MSR.lstar, 0), (MSR.timeStampCounter, 0), (MSR.miscEnable, Self.miscEnableBootValue),
        ]
        let indices = msrs.map(\.0), values = msrs.map(\.1)
        let result = ckvm_set_msrs(fd.rawValue, indices, values, UInt32(msrs.count))
        guard result >= 0 else { throw KVMError("KVM_SET_MSRS", result: result) }
        // KVM sets MSRs in order and stops at the first it refuses.
        guard result == msrs.count else { throw KVMError("KVM_SET_MSRS (MSR \(hex(indices[Int(result)])))", .invalidArgument) }
    }

    /// x87 control word 0x37F and MXCSR 0x1F80, the state after FNINIT and the SSE reset value, as
    /// Firecracker sets them. A new KVM vCPU on PVM reads MXCSR 0, which unmasks every SIMD
    /// exception; hardware KVM already starts at these values.
    func setFPUControl() throws(KVMError) {
        var fpu = kvm_fpu()
        let read = ckvm_get_fpu(fd.rawValue, &fpu)
        guard read >= 0 else { throw KVMError("KVM_GET_FPU", result: read) }
        fpu.fcw = 0x37F
        fpu.mxcsr = 0x1F80
        let written = ckvm_set_fpu(fd.rawValue, &fpu)
        guard written >= 0 else { throw KVMError("KVM_SET_FPU", result: written) }
    }

    /// Local APIC register offsets and LVT delivery modes (SDM vol. 3, 11.5.1).
    enum LocalAPICRegister {
        static let spuriousVector = 0xF0, lvtLINT0 = 0x350, lvtLINT1 = 0x360
        static let extINT: UInt32 = 7 << 8, nmi: UInt32 = 4 << 8, softwareEnable: UInt32 = 1 << 8
    }

    /// The in-kernel LAPIC as firmware hands the BSP to an OS, and as the software backend's LAPIC
    /// starts (`LocalAPIC(virtualWire: true)`): software-enabled with spurious vector 0xFF, LINT0
    /// ExtINT (virtual wire: the 8259's INTR reaches the CPU), LINT1 NMI. KVM itself only unmasks
    /// LINT0 (KVM_X86_QUIRK_LINT0_REENABLED) and leaves LINT1 masked, so an NMI on LINT1 would be
    /// lost; Linux keeps whatever LINT0 it finds when it sets up virtual wire mode.
    func setVirtualWire() throws(KVMError) {
        var state = kvm_lapic_state()
        let read = ckvm_get_lapic(fd.rawValue, &state)
        guard read >= 0 else { throw KVMError("KVM_GET_LAPIC", result: read) }
        withUnsafeMutableBytes(of: &state) { registers in
            func store(_ value: UInt32, _ offset: Int) { registers.storeBytes(of: value.littleEndian, toByteOffset: offset, as: UInt32.self) }
            store(0xFF | LocalAPICRegister.softwareEnable, LocalAPICRegister.spuriousVector)
            store(LocalAPICRegister.extINT, LocalAPICRegister.lvtLINT0)
            store(LocalAPICRegister.nmi, LocalAPICRegister.lvtLINT1)
        }
        let written = ckvm_set_lapic(fd.rawValue, &state)
        guard written >= 0 else { throw KVMError("KVM_SET_LAPIC", result: written) }
    }
}
