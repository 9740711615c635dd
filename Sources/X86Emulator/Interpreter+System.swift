import VMCore

/// System instructions: descriptor tables, control and debug registers, MSRs, CPUID, SYSCALL.
extension Interpreter {
    /// Group 6: SLDT, STR, LLDT, LTR, VERR, VERW.
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
                    let high = try readSystem(state.pointee.gdt.base &+ UInt64(selector & ~7) &+ 8, size: 8)
                    loaded.base |= (high & 0xFFFF_FFFF) << 32
                    guard isCanonical(loaded.base) else { throw .fault(.gp(UInt32(selector & ~3))) }
                }
                let expectedTypes: [UInt8] = m.reg & 7 == 2 ? [2] : [1, 9]
                guard !loaded.isCodeOrData, expectedTypes.contains(loaded.type) else { throw .fault(.gp(UInt32(selector & ~3))) }
                guard loaded.present else { throw .fault(Fault(vector: 11, errorCode: UInt32(selector & ~3))) }
                if m.reg & 7 == 3 {
                    // LTR marks the TSS busy, in the descriptor too.
                    loaded.type |= 2
                    try writeSystem(descriptorAddress(selector) &+ 5, size: 1, (low >> 40) & 0xFF | 2)
                }
            }
            if m.reg & 7 == 2 { state.pointee.ldt = loaded } else { state.pointee.tr = loaded }
        case 4, 5: try verifySegment(m, p, write: m.reg & 7 == 5)
        default:
            throw .fault(.ud)
        }
    }

    /// Group 7: SGDT, SIDT, LGDT, LIDT, SMSW, LMSW, INVLPG and SWAPGS (0F 01 F8).
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
            if long && !isCanonical(base) { throw .fault(.gp()) }  // a table in the hole would fault later
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
            // INVLPG makes no access: no limit check, and a non-canonical address (which no
            // TLB entry can hold) is a no-op, not #GP (SDM vol. 2, INVLPG; APM likewise).
            try requireCPL0()
            let s = state.pointee
            let base = s.is64BitMode && segment != .fs && segment != .gs ? 0 : s.segment(segment).base
            let linear = s.is64BitMode ? base &+ offset : (base &+ offset) & 0xFFFF_FFFF
            if isCanonical(linear) { tlb.flush(linear: linear) }
        case (7, .register) where m.rm == 0 && long:  // SWAPGS: GS base <-> IA32_KERNEL_GS_BASE
            try requireCPL0()
            let base = state.pointee.segments.5.base
            state.pointee.segments.5.base = state.pointee.kernelGSBase
            state.pointee.kernelGSBase = base
        default:
            // RDTSCP (0F 01 F9) among them: the CPU model does not advertise it (CPUID
            // 80000001h:EDX bit 27), so it is #UD like on a CPU without it.
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
        case 3:
            // In long mode bits 63:52 and those above the physical-address width are reserved.
            if state.pointee.isLongModeActive && value & (PagingReservedBits.aboveAddressWidth | 0xFFF0_0000_0000_0000) != 0 {
                throw .fault(.gp())
            }
            state.pointee.cr3 = value
        case 4:
            if state.pointee.isLongModeActive && value & ControlBits.cr4PhysicalAddressExtension == 0 { throw .fault(.gp()) }
            // Only the bits of the documented CPU model may be set (VME, PVI, TSD, DE, PSE, PAE, PGE, OSFXSR...).
            guard value & ~Self.supportedCR4 == 0 else { throw .fault(.gp()) }
            state.pointee.cr4 = value
        case 8: state.pointee.cr8 = value & 0xF
        default: throw .fault(.ud)
        }
    }

    /// CR4 bits this emulator accepts: TSD, DE, PSE, PAE, PGE (ignored: no TLB), PCE, OSFXSR, OSXMMEXCPT.
    static var supportedCR4: UInt64 { (1 << 2) | (1 << 3) | (1 << 4) | (1 << 5) | (1 << 7) | (1 << 8) | (1 << 9) | (1 << 10) }

    func debugRegister(_ number: Int) -> UInt64 {
        withUnsafeBytes(of: state.pointee.dr) { $0.load(fromByteOffset: (number & 7) * 8, as: UInt64.self) }
    }

    func setDebugRegister(_ number: Int, _ value: UInt64) {
        withUnsafeMutableBytes(of: &state.pointee.dr) { $0.storeBytes(of: value, toByteOffset: (number & 7) * 8, as: UInt64.self) }
    }

    /// CPUID answers from the CPU model (VMCore's `CPUModel`), the one description of this CPU.
    func cpuid() {
        let leaf = CPUModel.softwareBackend.cpuid(leaf: UInt32(truncatingIfNeeded: gpr[0]), subleaf: UInt32(truncatingIfNeeded: gpr[1]))
        writeRegister(0, size: 4, rex: true, UInt64(leaf.eax))
        writeRegister(3, size: 4, rex: true, UInt64(leaf.ebx))
        writeRegister(1, size: 4, rex: true, UInt64(leaf.ecx))
        writeRegister(2, size: 4, rex: true, UInt64(leaf.edx))
    }
}
