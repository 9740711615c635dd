import VMCore

/// The x87 FPU: the escape opcodes D8-DF and WAIT (9B). Data instructions run on the host FPU
/// (X87HostImage.swift, CX87); the control and environment instructions are the emulator's own
/// (X87Environment.swift).
extension Interpreter {
    // The vectors (#NM, #MF) and the CR0 bits that gate the FPU (MP, EM, TS, NE) are defined with
    // the SSE registers' checks, in Interpreter+MediaRegisters.swift.

    /// One x87 instruction, `opcode` D8-DF.
    func x87(_ opcode: UInt8, _ i: inout Instruction) throws(Interruption) {
        let m = try decodeModRM(&i)
        if i.prefixes.lock { throw .fault(.ud) }  // LOCK applies to no x87 instruction
        let reg = m.reg & 7
        let modrm = m.mod << 6 | UInt8(reg) << 3 | m.rm
        if m.isRegister {
            if Self.isUndefinedX87Register(opcode, modrm) { throw .fault(.ud) }
        } else if X87MemoryForm(opcode: opcode, reg: reg) == nil && !Self.isX87Environment(opcode, reg) {
            throw .fault(.ud)
        }
        // CR0.EM: no FPU, emulate it in software; CR0.TS: the FPU state belongs to another task.
        if state.pointee.cr0 & (Self.cr0Emulation | Self.cr0TaskSwitched) != 0 {
            throw .fault(Fault(vector: Self.deviceNotAvailable, errorCode: nil))
        }
        switch (opcode, modrm) {
        case (0xDB, 0xE2):  // FNCLEX
            state.pointee.x87.status &= ~(X87State.exceptionFlags | X87State.stackFault | X87State.errorSummary | X87State.busy)
            return
        case (0xDB, 0xE3):  // FNINIT
            state.pointee.x87.reinitialize()
            return
        case (0xDB, 0xE0), (0xDB, 0xE1), (0xDB, 0xE4):  // FNENI, FNDISI, FNSETPM: no-ops since the 387
            return
        case (0xDF, 0xE0):  // FNSTSW AX
            writeRegister(0, size: 2, rex: true, UInt64(state.pointee.x87.status))
            return
        default: break
        }
        guard case .memory(let segment, let offset) = m.operand else {
            try checkPendingX87Exception()
            try runX87OnHost(opcode, modrm: modrm, memory: nil, start: i.start)
            return
        }
        if Self.isX87Environment(opcode, reg) {
            try x87Environment(opcode, reg: reg, segment: segment, offset: offset, i.prefixes)
            return
        }
        try checkPendingX87Exception()
        try runX87OnHost(opcode, modrm: UInt8(reg) << 3 | 7, memory: (segment, offset), start: i.start, fop: modrm)
    }

    /// WAIT/FWAIT: #NM when CR0.MP and CR0.TS are both set, else a pending exception's #MF.
    func fwait() throws(Interruption) {
        let cr0 = state.pointee.cr0
        if cr0 & Self.cr0MonitorCoprocessor != 0 && cr0 & Self.cr0TaskSwitched != 0 {
            throw .fault(Fault(vector: Self.deviceNotAvailable, errorCode: nil))
        }
        try checkPendingX87Exception()
    }

    /// A waiting x87 instruction with an exception pending (ES set) raises #MF when CR0.NE is
    /// set, before it executes. With CR0.NE clear the PC's legacy path would assert FERR# to
    /// IRQ 13 and freeze until IGNNE#; this machine has no FERR# wire, so the instruction runs as
    /// with IGNNE# asserted and the exception stays pending (visible in the status word).
    func checkPendingX87Exception() throws(Interruption) {
        guard state.pointee.x87.status & X87State.errorSummary != 0, state.pointee.cr0 & Self.cr0NumericError != 0 else { return }
        throw .fault(Fault(vector: Self.floatingPointError, errorCode: nil))
    }

    /// A data instruction on the host FPU: the memory operand read first (a fault leaves the
    /// FPU untouched), the store written before the state is committed (likewise).
    private func runX87OnHost(
        _ opcode: UInt8, modrm: UInt8, memory: (SegmentIndex, UInt64)?, start: UInt64, fop: UInt8? = nil
    ) throws(Interruption) {
        var operand = X87OperandBuffer()
        let form = memory == nil ? nil : X87MemoryForm(opcode: opcode, reg: Int(modrm >> 3) & 7)
        if let form, let (segment, offset) = memory, !form.isStore {
            operand.bytes = try readX87Operand(segment, offset, size: form.size)
        }
        let before = state.pointee.x87
        var flags = UInt8(truncatingIfNeeded: state.pointee.rflags & 0xD5 | 2)
        guard var host = runOnHostFPU(opcode: opcode, modrm: modrm, before, &operand, flags: &flags) else { throw .fault(.ud) }
        if before.control & (X87State.overflow | X87State.underflow) != X87State.overflow | X87State.underflow,
            let rebiased = X87Rebias.response(opcode: opcode, modrm: modrm, before: before, host: host, operand: operand.bytes)
        {
            host = rebiased
        }
        // FCOMI, FUCOMI and their popping forms.
        let setsEFLAGS = (opcode == 0xDB || opcode == 0xDF) && (0xE8...0xF7).contains(modrm)
        let response = X87ExceptionResponse(
            before: before, host: host, storesToMemory: form?.isStore ?? false, isCompare: Self.isX87Compare(opcode, modrm),
            clearsC2: opcode == 0xD9 && [0xF2, 0xF5, 0xF8, 0xFB, 0xFE, 0xFF].contains(modrm), setsEFLAGS: setsEFLAGS,
            loadsReal: modrm < 0xC0 && (opcode == 0xD9 || opcode == 0xDD) && modrm >> 3 == 0)
        if response.delivered, let form, let (segment, offset) = memory, form.isStore {
            try writeX87Operand(segment, offset, size: form.size, operand.bytes)
        }
        var x87 = response.state
        // FOP, FIP and FCS for every non-control instruction; FDP and FDS only for those with a
        // memory operand (the CPU keeps the last one otherwise; AMD stores FOP always).
        x87.lastOpcode = UInt16(opcode & 7) << 8 | UInt16(fop ?? modrm)
        x87.lastInstructionPointer = start
        x87.lastInstructionSelector = state.pointee.segments.1.selector
        if let (segment, offset) = memory {
            x87.lastDataPointer = offset
            x87.lastDataSelector = state.pointee.segment(segment).selector
        }
        state.pointee.x87 = x87
        // FCOMI, FUCOMI and their popping forms set ZF, PF and CF and clear OF, SF and AF (also
        // when an unmasked invalid operation suppresses the pop).
        if setsEFLAGS {
            let compared = UInt64(flags) & (CPUState.zf | CPUState.pf | CPUState.cf)
            state.pointee.rflags = state.pointee.rflags & ~CPUState.arithmeticFlags | compared
        }
    }

    /// Register forms that raise #UD (measured on the CPU: every other form executes, the
    /// undocumented aliases too).
    static func isUndefinedX87Register(_ opcode: UInt8, _ modrm: UInt8) -> Bool {
        switch opcode {
        case 0xD9: return (0xD1...0xD7).contains(modrm) || [0xE2, 0xE3, 0xE6, 0xE7, 0xEF].contains(modrm)
        case 0xDA: return modrm >= 0xE0 && modrm != 0xE9
        case 0xDB: return (0xE5...0xE7).contains(modrm) || modrm >= 0xF8
        case 0xDD: return modrm >= 0xF0
        case 0xDE: return modrm >= 0xD8 && modrm <= 0xDF && modrm != 0xD9
        case 0xDF: return (0xE1...0xE7).contains(modrm) || modrm >= 0xF8
        default: return false
        }
    }

    /// FCOM*, FICOM*, FUCOM*, FCOMI*, FUCOMI*, FTST, FXAM: instructions whose condition codes
    /// report a comparison.
    static func isX87Compare(_ opcode: UInt8, _ modrm: UInt8) -> Bool {
        let reg = (modrm >> 3) & 7
        if modrm < 0xC0 { return [0xD8, 0xDA, 0xDC, 0xDE].contains(opcode) && (reg == 2 || reg == 3) }
        switch opcode {
        case 0xD8, 0xDC: return reg == 2 || reg == 3
        case 0xD9: return modrm == 0xE4 || modrm == 0xE5
        case 0xDA: return modrm == 0xE9
        case 0xDB, 0xDF: return (0xE8...0xF7).contains(modrm)
        case 0xDD: return (0xE0...0xEF).contains(modrm)
        case 0xDE: return reg == 2 || reg == 3
        default: return false
        }
    }

    /// FLDENV, FLDCW, FNSTENV, FNSTCW (D9 /4-/7); FRSTOR, FNSAVE, FNSTSW m16 (DD /4, /6, /7).
    static func isX87Environment(_ opcode: UInt8, _ reg: Int) -> Bool {
        (opcode == 0xD9 && reg >= 4) || (opcode == 0xDD && (reg == 4 || reg == 6 || reg == 7))
    }
}

/// The memory operand of an x87 data instruction: its size in bytes and direction.
struct X87MemoryForm {
    var size: Int
    var isStore: Bool

    /// nil for the encodings that raise #UD (and for the environment forms, handled apart).
    /// FISTTP (DB/DD/DF /1) is SSE3, which the CPU model does not advertise: #UD.
    init?(opcode: UInt8, reg: Int) {
        switch (opcode, reg) {
        case (0xD8, _), (0xDA, _): self.init(size: 4, isStore: false)
        case (0xDC, _): self.init(size: 8, isStore: false)
        case (0xDE, _): self.init(size: 2, isStore: false)
        case (0xD9, 0), (0xDB, 0): self.init(size: 4, isStore: false)
        case (0xD9, 2), (0xD9, 3), (0xDB, 2), (0xDB, 3): self.init(size: 4, isStore: true)
        case (0xDB, 5), (0xDF, 4): self.init(size: 10, isStore: false)
        case (0xDB, 7), (0xDF, 6): self.init(size: 10, isStore: true)
        case (0xDD, 0), (0xDF, 5): self.init(size: 8, isStore: false)
        case (0xDD, 2), (0xDD, 3), (0xDF, 7): self.init(size: 8, isStore: true)
        case (0xDF, 0): self.init(size: 2, isStore: false)
        case (0xDF, 2), (0xDF, 3): self.init(size: 2, isStore: true)
        default: return nil
        }
    }

    init(size: Int, isStore: Bool) {
        self.size = size
        self.isStore = isStore
    }
}
