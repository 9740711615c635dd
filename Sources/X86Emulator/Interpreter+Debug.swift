import VMCore

/// The debug architecture (SDM vol. 3, chapter 17; APM vol. 2, 13.1): DR0-DR3 breakpoints enabled
/// in DR7 (execute, write, read/write; 1, 2, 4 or 8 bytes), DR6 status, TF single-step, RF, GD,
/// and DR4/DR5 as DR6/DR7 unless CR4.DE.
///
/// While TF, RF or a DR7 enable is set, `runBlocks` runs one instruction at a time here on the
/// byte interpreter; otherwise none of this costs anything on the decoded-block path.
/// Order within one instruction (SDM vol. 3, table 6-2): an instruction breakpoint is a fault
/// before the instruction (unless RF is set); data breakpoints and the single-step trap are
/// reported together after it completes, in one #DB; a fault of the instruction discards them.
/// Not modelled: the #DB suppression for the instruction after MOV SS/POP SS, I/O breakpoints
/// (R/W = 10b) and DebugCtl.BTF (branch single-step).
extension Interpreter {
    static var dr6BreakpointBits: UInt64 { 0xF }
    static var dr6DebugRegisterAccess: UInt64 { 1 << 13 }
    static var dr6SingleStep: UInt64 { 1 << 14 }
    /// DR6 bits that read as 1 (AMD: 63:32 read as 0, 31:16 and 11:4 as 1).
    static var dr6Fixed: UInt64 { 0xFFFF_0FF0 }
    static var dr7GeneralDetect: UInt64 { 1 << 13 }
    static var cr4DebuggingExtensions: UInt64 { 1 << 3 }

    /// Whether the next instruction needs the debug path.
    @inline(__always) var debugActive: Bool {
        state.pointee.storedFlags & (CPUState.tf | CPUState.rf) != 0 || state.pointee.dr.7 & 0xFF != 0
    }

    /// The enabled breakpoints of DR7 whose R/W kind is in `kinds` (bit 0 execute, bit 1 write,
    /// bit 3 read/write) and whose range overlaps `size` bytes at `linear`, as DR6 bits.
    func breakpointHits(_ linear: UInt64, size: Int, kinds: UInt8) -> UInt64 {
        let dr7 = state.pointee.dr.7
        var hits: UInt64 = 0
        for index in 0..<4 where dr7 >> (UInt64(index) * 2) & 3 != 0 {
            let control = dr7 >> (16 + UInt64(index) * 4) & 0xF
            guard kinds >> (control & 3) & 1 != 0 else { continue }
            let length: UInt64
            switch control >> 2 {
            case 0: length = 1
            case 1: length = 2
            case 2: length = 8  // AMD (and Intel in long mode): 10b is 8 bytes
            default: length = 4
            }
            let start = debugRegister(index) & ~(length - 1)
            let last = linear &+ UInt64(size) &- 1
            if control & 3 == 0 ? linear == debugRegister(index) : linear <= start &+ length &- 1 && start <= last {
                hits |= 1 << UInt64(index)
            }
        }
        return hits
    }

    /// A data access of the instruction being single-stepped: remembers the breakpoints it hits.
    func noteDataAccess(_ linear: UInt64, size: Int, write: Bool) {
        state.pointee.dataBreakpointHits |= breakpointHits(linear, size: size, kinds: write ? 0b1010 : 0b1000)
    }

    /// One instruction with the debug checks around it (out of line: a cold exit of the hot path,
    /// as `step` is).
    @inline(never)
    func debugStep() throws(Interruption) {
        let s = state.pointee
        let startFlags = s.rflags
        let codeBase = s.is64BitMode ? 0 : s.segments.1.base
        if startFlags & CPUState.rf == 0 {
            let hits = breakpointHits((codeBase &+ s.rip) & (s.is64BitMode ? .max : 0xFFFF_FFFF), size: 1, kinds: 0b0001)
            if hits != 0 {
                state.pointee.dr.6 |= hits
                throw .fault(Fault(vector: Fault.debug, errorCode: nil))
            }
        }
        state.pointee.dataBreakpointHits = 0
        state.pointee.softwareInterruptDelivered = false
        state.pointee.watchingData = s.dr.7 & 0xFF != 0
        defer { state.pointee.watchingData = false }
        try step()
        // RF is cleared once an instruction completes (IRET may load it for the next one).
        if startFlags & CPUState.rf != 0 { state.pointee.rflags &= ~CPUState.rf }
        var status = state.pointee.dataBreakpointHits
        // TF as the instruction began; INT n, INT3 and INTO clear it and are not trapped.
        if startFlags & CPUState.tf != 0 && !state.pointee.softwareInterruptDelivered { status |= Self.dr6SingleStep }
        guard status != 0 else { return }
        state.pointee.dr.6 |= status
        throw .fault(Fault(vector: Fault.debug, errorCode: nil))  // a trap: RIP is past the instruction
    }

    /// MOV from/to DRn: CPL 0; DR4/DR5 alias DR6/DR7 unless CR4.DE (then #UD); with DR7.GD set,
    /// #DB with DR6.BD before the access (GD cleared so the handler can use the registers).
    func moveDebugRegister(_ i: inout Instruction, toDR: Bool) throws(Interruption) {
        try requireCPL0()
        let m = try decodeModRM(&i)
        guard case .register(let index) = m.operand else { throw .fault(.ud) }
        var number = m.reg
        guard number < 8 else { throw .fault(.ud) }
        if number == 4 || number == 5 {
            if state.pointee.cr4 & Self.cr4DebuggingExtensions != 0 { throw .fault(.ud) }
            number += 2
        }
        if state.pointee.dr.7 & Self.dr7GeneralDetect != 0 {
            state.pointee.dr.7 &= ~Self.dr7GeneralDetect
            state.pointee.dr.6 |= Self.dr6DebugRegisterAccess
            throw .fault(Fault(vector: Fault.debug, errorCode: nil))
        }
        let long = state.pointee.is64BitMode
        if !toDR {
            writeRegister(index, size: long ? 8 : 4, rex: true, debugRegister(number))
            return
        }
        var value = gpr[index] & (long ? .max : 0xFFFF_FFFF)
        switch number {
        case 6:
            guard value >> 32 == 0 else { throw .fault(.gp()) }
            value = value & 0xE00F | Self.dr6Fixed
        case 7:
            guard value >> 32 == 0 else { throw .fault(.gp()) }
            value = value & 0xFFFF_27FF | 0x400  // bit 10 reads as 1, 11, 12, 14 and 15 as 0
            state.pointee.stopBlock = true  // the next instruction takes the debug path
        default: break
        }
        setDebugRegister(number, value)
    }
}
