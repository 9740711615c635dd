import VMCore

/// System instructions: descriptor tables, control and debug registers, MSRs, CPUID, SYSCALL.
extension Interpreter {
    /// Group 6: SLDT, STR, LLDT, LTR (VERR/VERW are not implemented and raise #UD).
    func group6(_ i: inout Instruction) throws(Interruption) {
        let p = i.prefixes
        let m = try decodeModRM(&i)
        guard state.pointee.isProtected else { throw .fault(.ud) }
        switch m.reg & 7 {
        case 0: try write(m.operand, size: m.isRegister ? p.operandSize : 2, p, UInt64(state.pointee.ldt.selector))
        case 1: try write(m.operand, size: m.isRegister ? p.operandSize : 2, p, UInt64(state.pointee.tr.selector))
        case 2, 3:
            try requireCPL0()
            let selector = UInt16(truncatingIfNeeded: try read(m.operand, size: 2, p))
            var loaded = Segment()
            loaded.selector = selector
            if selector & ~3 == 0 {
                guard m.reg & 7 == 2 else { throw .fault(.gp()) }
                loaded.unusable = true
            } else {
                guard selector & 4 == 0 else { throw .fault(.gp(UInt32(selector & ~3))) }
                let low = try readDescriptor(selector)
                loaded = Self.segment(fromDescriptor: low, selector: selector)
                if state.pointee.isLongModeActive {
                    // System descriptors are 16 bytes in long mode: the next 8 hold base 63:32.
                    let high = try readLinear(state.pointee.gdt.base &+ UInt64(selector & ~7) &+ 8, size: 8)
                    loaded.base |= (high & 0xFFFF_FFFF) << 32
                }
                let expectedTypes: [UInt8] = m.reg & 7 == 2 ? [2] : [1, 9]
                guard !loaded.isCodeOrData, expectedTypes.contains(loaded.type) else { throw .fault(.gp(UInt32(selector & ~3))) }
                guard loaded.present else { throw .fault(Fault(vector: 11, errorCode: UInt32(selector & ~3))) }
                if m.reg & 7 == 3 { loaded.type |= 2 }  // LTR marks the TSS busy
            }
            if m.reg & 7 == 2 { state.pointee.ldt = loaded } else { state.pointee.tr = loaded }
        default:
            throw .fault(.ud)
        }
    }

    /// Group 7: SGDT, SIDT, LGDT, LIDT, SMSW, LMSW, INVLPG, SWAPGS (0F 01 F8) and RDTSCP (0F 01 F9).
    func group7(_ i: inout Instruction) throws(Interruption) {
        let p = i.prefixes
        let m = try decodeModRM(&i)
        let long = state.pointee.is64BitMode
        switch (m.reg & 7, m.operand) {
        case (0, .memory(let segment, let offset)), (1, .memory(let segment, let offset)):
            let table = m.reg & 7 == 0 ? state.pointee.gdt : state.pointee.idt
            try writeSegmented(segment, offset, size: 2, UInt64(table.limit))
            try writeSegmented(segment, offset &+ 2, size: long ? 8 : 4, table.base)
        case (2, .memory(let segment, let offset)), (3, .memory(let segment, let offset)):
            try requireCPL0()
            let limit = UInt16(try readSegmented(segment, offset, size: 2))
            var base = try readSegmented(segment, offset &+ 2, size: long ? 8 : 4)
            if !long && p.operandSize == 2 { base &= 0xFF_FFFF }
            let table = DescriptorTable(base: base, limit: limit)
            if m.reg & 7 == 2 { state.pointee.gdt = table } else { state.pointee.idt = table }
        case (4, _):
            try write(m.operand, size: m.isRegister ? p.operandSize : 2, p, state.pointee.cr0 & mask(m.isRegister ? p.operandSize : 2))
        case (6, _):  // LMSW: sets PE, MP, EM, TS; cannot clear PE
            try requireCPL0()
            tlb.flushAll()
            let value = try read(m.operand, size: 2, p) & 0xF
            let cr0 = state.pointee.cr0
            state.pointee.cr0 = cr0 & ~0xE | value | (cr0 & 1)
        case (7, .memory(let segment, let offset)):
            try requireCPL0()
            tlb.flush(linear: try linearAddress(segment, offset, size: 1))
        case (7, .register) where m.rm == 0 && long:  // SWAPGS: GS base <-> IA32_KERNEL_GS_BASE
            try requireCPL0()
            let base = state.pointee.segments.5.base
            state.pointee.segments.5.base = state.pointee.kernelGSBase
            state.pointee.kernelGSBase = base
        case (7, .register) where m.rm == 1:  // RDTSCP
            let tsc = timeStampCounter()
            writeRegister(0, size: 4, rex: true, tsc & 0xFFFF_FFFF)
            writeRegister(2, size: 4, rex: true, tsc >> 32)
            writeRegister(1, size: 4, rex: true, 0)  // TSC_AUX
        default:
            throw .fault(.ud)
        }
    }

    /// MOV to/from CR0, CR2, CR3, CR4, CR8, with the checks that guard mode switches.
    func moveControlRegister(_ i: inout Instruction, toCR: Bool) throws(Interruption) {
        try requireCPL0()
        let m = try decodeModRM(&i)
        guard case .register(let index) = m.operand else { throw .fault(.ud) }
        let size = state.pointee.is64BitMode ? 8 : 4
        let number = m.reg
        if !toCR {
            let s = state.pointee
            let value: UInt64
            switch number {
            case 0: value = s.cr0
            case 2: value = s.cr2
            case 3: value = s.cr3
            case 4: value = s.cr4
            case 8: value = s.cr8
            default: throw .fault(.ud)
            }
            writeRegister(index, size: size, rex: true, value & mask(size))
            return
        }
        let value = gpr[index] & mask(size)
        defer { tlb.flushAll() }  // any change to paging control invalidates cached translations
        switch number {
        case 0:
            var cr0 = value | ControlBits.cr0ExtensionType
            // PG without PE, or NW without CD, is #GP (SDM vol. 3, 2.5).
            if cr0 & ControlBits.cr0Paging != 0 && cr0 & 1 == 0 { throw .fault(.gp()) }
            if cr0 & (1 << 29) != 0 && cr0 & (1 << 30) == 0 { throw .fault(.gp()) }
            let enablingPaging = cr0 & ControlBits.cr0Paging != 0 && state.pointee.cr0 & ControlBits.cr0Paging == 0
            if enablingPaging && state.pointee.efer & ControlBits.eferLongModeEnable != 0 {
                guard state.pointee.cr4 & ControlBits.cr4PhysicalAddressExtension != 0 else { throw .fault(.gp()) }
                state.pointee.efer |= ControlBits.eferLongModeActive
            }
            if cr0 & ControlBits.cr0Paging == 0 {
                if state.pointee.is64BitMode { throw .fault(.gp()) }  // leaving long mode from 64-bit code
                state.pointee.efer &= ~ControlBits.eferLongModeActive
            }
            cr0 &= 0xFFFF_FFFF
            state.pointee.cr0 = cr0
        case 2: state.pointee.cr2 = value
        case 3: state.pointee.cr3 = value
        case 4:
            if state.pointee.isLongModeActive && value & ControlBits.cr4PhysicalAddressExtension == 0 { throw .fault(.gp()) }
            // Only the bits of the documented CPU model may be set (VME, PVI, TSD, DE, PSE, PAE, PGE, OSFXSR...).
            guard value & ~Self.supportedCR4 == 0 else { throw .fault(.gp()) }
            state.pointee.cr4 = value
        case 8: state.pointee.cr8 = value & 0xF
        default: throw .fault(.ud)
        }
    }

    /// CR4 bits this emulator accepts: TSD, DE, PSE, PAE, PGE (ignored: no TLB), OSFXSR, OSXMMEXCPT.
    static var supportedCR4: UInt64 { (1 << 2) | (1 << 3) | (1 << 4) | (1 << 5) | (1 << 7) | (1 << 9) | (1 << 10) }

    func debugRegister(_ number: Int) -> UInt64 {
        withUnsafeBytes(of: state.pointee.dr) { $0.load(fromByteOffset: (number & 7) * 8, as: UInt64.self) }
    }

    func setDebugRegister(_ number: Int, _ value: UInt64) {
        withUnsafeMutableBytes(of: &state.pointee.dr) { $0.storeBytes(of: value, toByteOffset: (number & 7) * 8, as: UInt64.self) }
    }

    // MSR numbers (SDM vol. 4).
    static var msrTSC: UInt32 { 0x10 }
    static var msrAPICBase: UInt32 { 0x1B }
    static var msrEFER: UInt32 { 0xC000_0080 }
    static var msrSTAR: UInt32 { 0xC000_0081 }
    static var msrLSTAR: UInt32 { 0xC000_0082 }
    static var msrCSTAR: UInt32 { 0xC000_0083 }
    static var msrSFMASK: UInt32 { 0xC000_0084 }
    static var msrFSBase: UInt32 { 0xC000_0100 }
    static var msrGSBase: UInt32 { 0xC000_0101 }
    static var msrKernelGSBase: UInt32 { 0xC000_0102 }

    /// Unknown MSRs raise #GP, as on a CPU without them.
    func readMSR(_ number: UInt32) throws(Interruption) -> UInt64 {
        let s = state.pointee
        switch number {
        case Self.msrTSC: return timeStampCounter()
        case Self.msrAPICBase where platform == nil: return s.apicBase
        case Self.msrEFER: return s.efer
        case Self.msrSTAR: return s.star
        case Self.msrLSTAR: return s.lstar
        case Self.msrCSTAR: return s.cstar
        case Self.msrSFMASK: return s.sfmask
        case Self.msrFSBase: return s.segment(.fs).base
        case Self.msrGSBase: return s.segment(.gs).base
        case Self.msrKernelGSBase: return s.kernelGSBase
        default:
            guard let value = platform?.readMSR(number, tscOffset: s.tscOffset) else { throw .fault(.gp()) }
            return value
        }
    }

    func writeMSR(_ number: UInt32, _ value: UInt64) throws(Interruption) {
        switch number {
        case Self.msrTSC: state.pointee.tscOffset = value &- clock.nanoseconds
        case Self.msrAPICBase where platform == nil: state.pointee.apicBase = value
        case Self.msrEFER:
            // SCE (0), LME (8), NXE (11) are writable; LMA (10) is the CPU's; the rest reserved.
            guard value & ~UInt64(0xD01) == 0 else { throw .fault(.gp()) }
            let lma = state.pointee.efer & ControlBits.eferLongModeActive
            if state.pointee.isPaging && (value ^ state.pointee.efer) & ControlBits.eferLongModeEnable != 0 { throw .fault(.gp()) }
            state.pointee.efer = value & ~ControlBits.eferLongModeActive | lma
            tlb.flushAll()
        case Self.msrSTAR: state.pointee.star = value
        case Self.msrLSTAR: state.pointee.lstar = value
        case Self.msrCSTAR: state.pointee.cstar = value
        case Self.msrSFMASK: state.pointee.sfmask = value & 0xFFFF_FFFF
        case Self.msrFSBase, Self.msrGSBase:
            var segment = state.pointee.segment(number == Self.msrFSBase ? .fs : .gs)
            segment.base = value
            state.pointee.setSegment(number == Self.msrFSBase ? .fs : .gs, segment)
        case Self.msrKernelGSBase: state.pointee.kernelGSBase = value
        default:
            guard platform?.writeMSR(number, value: value, tscOffset: state.pointee.tscOffset) == true else { throw .fault(.gp()) }
            state.pointee.stopBlock = true  // an APIC or timer change may make an interrupt due
        }
    }

    /// CPUID answers from the CPU model (VMCore's `CPUModel`), the one description of this CPU.
    func cpuid() {
        let leaf = CPUModel.softwareBackend.cpuid(leaf: UInt32(truncatingIfNeeded: gpr[0]), subleaf: UInt32(truncatingIfNeeded: gpr[1]))
        writeRegister(0, size: 4, rex: true, UInt64(leaf.eax))
        writeRegister(3, size: 4, rex: true, UInt64(leaf.ebx))
        writeRegister(1, size: 4, rex: true, UInt64(leaf.ecx))
        writeRegister(2, size: 4, rex: true, UInt64(leaf.edx))
    }

    /// SYSCALL in long mode: RCX = return RIP, R11 = RFLAGS, CS/SS from STAR[47:32], RIP = LSTAR
    /// (64-bit callers), RFLAGS &= ~SFMASK.
    func syscall(_ i: Instruction) throws(Interruption) -> UInt64 {
        let s = state.pointee
        guard s.is64BitMode else { throw .fault(.ud) }
        gpr[1] = i.cursor
        gpr[11] = s.rflags
        let selector = UInt16((s.star >> 32) & 0xFFFC)
        state.pointee.setSegment(
            .cs, Segment(base: 0, limit: 0xFFFF_FFFF, selector: selector, type: 0xB, dpl: 0, defaultSize32: false, long: true, granularity: true))
        state.pointee.setSegment(
            .ss, Segment(base: 0, limit: 0xFFFF_FFFF, selector: selector + 8, type: 0x3, dpl: 0, defaultSize32: true, granularity: true))
        state.pointee.rflags = s.rflags & ~s.sfmask & ~CPUState.rf | 2
        return s.lstar
    }

    /// SYSRET to 64-bit (REX.W) or compatibility mode at CPL 3.
    func sysret(_ p: Prefixes) throws(Interruption) -> UInt64 {
        let s = state.pointee
        guard s.is64BitMode else { throw .fault(.ud) }
        try requireCPL0()
        let base = UInt16((s.star >> 48) & 0xFFFF)
        let to64 = p.rexW
        let rip = s.register(1)
        if to64 && (rip >> 47 != 0 && rip >> 47 != 0x1FFFF) { throw .fault(.gp()) }
        let csSelector = (to64 ? base + 16 : base) | 3
        state.pointee.setSegment(
            .cs, Segment(base: 0, limit: 0xFFFF_FFFF, selector: csSelector, type: 0xB, dpl: 3, defaultSize32: !to64, long: to64, granularity: true))
        state.pointee.setSegment(
            .ss, Segment(base: 0, limit: 0xFFFF_FFFF, selector: (base + 8) | 3, type: 0x3, dpl: 3, defaultSize32: true, granularity: true))
        state.pointee.rflags = s.register(11) & 0x3C_7FD7 | 2
        if !s.flag(CPUState.ifl) && state.pointee.flag(CPUState.ifl) { openedInterruptWindow() }
        return to64 ? rip : rip & 0xFFFF_FFFF
    }
}
