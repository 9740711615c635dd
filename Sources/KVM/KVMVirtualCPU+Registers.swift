import CKVM
import VMCore

// Conversions between KVM's register structs and the VMM's own, done only at this edge.
extension KVMVirtualCPU {
    /// KVM_GET_REGS
    public func registers() throws(CPUError) -> Registers {
        var raw = kvm_regs()
        try check(ckvm_get_regs(fd.rawValue, &raw), "KVM_GET_REGS")
        var r = Registers()
        r.rax = raw.rax; r.rbx = raw.rbx; r.rcx = raw.rcx; r.rdx = raw.rdx
        r.rsi = raw.rsi; r.rdi = raw.rdi; r.rsp = raw.rsp; r.rbp = raw.rbp
        r.r8 = raw.r8; r.r9 = raw.r9; r.r10 = raw.r10; r.r11 = raw.r11
        r.r12 = raw.r12; r.r13 = raw.r13; r.r14 = raw.r14; r.r15 = raw.r15
        r.rip = raw.rip; r.rflags = raw.rflags
        return r
    }

    /// KVM_SET_REGS
    public func setRegisters(_ r: Registers) throws(CPUError) {
        var raw = kvm_regs(
            rax: r.rax, rbx: r.rbx, rcx: r.rcx, rdx: r.rdx, rsi: r.rsi, rdi: r.rdi, rsp: r.rsp, rbp: r.rbp,
            r8: r.r8, r9: r.r9, r10: r.r10, r11: r.r11, r12: r.r12, r13: r.r13, r14: r.r14, r15: r.r15,
            rip: r.rip, rflags: r.rflags)
        try check(ckvm_set_regs(fd.rawValue, &raw), "KVM_SET_REGS")
    }

    /// KVM_GET_SREGS
    public func systemRegisters() throws(CPUError) -> SystemRegisters {
        var raw = kvm_sregs()
        try check(ckvm_get_sregs(fd.rawValue, &raw), "KVM_GET_SREGS")
        var s = SystemRegisters()
        s.cs = Segment(raw.cs); s.ds = Segment(raw.ds); s.es = Segment(raw.es)
        s.fs = Segment(raw.fs); s.gs = Segment(raw.gs); s.ss = Segment(raw.ss)
        s.tr = Segment(raw.tr); s.ldt = Segment(raw.ldt)
        s.gdt = DescriptorTable(base: raw.gdt.base, limit: raw.gdt.limit)
        s.idt = DescriptorTable(base: raw.idt.base, limit: raw.idt.limit)
        s.cr0 = raw.cr0; s.cr2 = raw.cr2; s.cr3 = raw.cr3; s.cr4 = raw.cr4; s.cr8 = raw.cr8
        s.efer = raw.efer; s.apicBase = raw.apic_base
        return s
    }

    /// KVM_SET_SREGS. Reads the current state first so fields the VMM does not model (the
    /// pending-interrupt bitmap) keep KVM's values.
    public func setSystemRegisters(_ s: SystemRegisters) throws(CPUError) {
        var raw = kvm_sregs()
        try check(ckvm_get_sregs(fd.rawValue, &raw), "KVM_GET_SREGS")
        raw.cs = kvm_segment(s.cs); raw.ds = kvm_segment(s.ds); raw.es = kvm_segment(s.es)
        raw.fs = kvm_segment(s.fs); raw.gs = kvm_segment(s.gs); raw.ss = kvm_segment(s.ss)
        raw.tr = kvm_segment(s.tr); raw.ldt = kvm_segment(s.ldt)
        raw.gdt = kvm_dtable(base: s.gdt.base, limit: s.gdt.limit, padding: (0, 0, 0))
        raw.idt = kvm_dtable(base: s.idt.base, limit: s.idt.limit, padding: (0, 0, 0))
        raw.cr0 = s.cr0; raw.cr2 = s.cr2; raw.cr3 = s.cr3; raw.cr4 = s.cr4; raw.cr8 = s.cr8
        raw.efer = s.efer; raw.apic_base = s.apicBase
        try check(ckvm_set_sregs(fd.rawValue, &raw), "KVM_SET_SREGS")
    }
}

extension Segment {
    init(_ raw: kvm_segment) {
        self.init(
            base: raw.base, limit: raw.limit, selector: raw.selector, type: raw.type, dpl: raw.dpl,
            defaultSize32: raw.db != 0, isCodeOrData: raw.s != 0, long: raw.l != 0, granularity: raw.g != 0)
        present = raw.present != 0
        unusable = raw.unusable != 0
    }
}

extension kvm_segment {
    init(_ s: Segment) {
        self.init(
            base: s.base, limit: s.limit, selector: s.selector, type: s.type,
            present: s.present ? 1 : 0, dpl: s.dpl, db: s.defaultSize32 ? 1 : 0, s: s.isCodeOrData ? 1 : 0,
            l: s.long ? 1 : 0, g: s.granularity ? 1 : 0, avl: 0, unusable: s.unusable ? 1 : 0, padding: 0)
    }
}
