/// One-byte instructions of 16/32-bit code that 64-bit mode removed: PUSHA/POPA, BOUND, ARPL,
/// SALC (all #UD in 64-bit mode), and INT1.
extension Interpreter {
    /// PUSHA/PUSHAD: AX CX DX BX, the original SP, BP SI DI. All stores happen before SP moves,
    /// so a fault part-way leaves SP as it was and the instruction restarts.
    func pushAll(_ p: Prefixes) throws(Interruption) {
        guard !state.pointee.is64BitMode else { throw .fault(.ud) }
        let size = p.operandSize
        let stackMask = mask(stackAddressSize)
        let original = gpr[4]
        for index in 0..<8 {
            let value = index == 4 ? original : gpr[index]
            try writeSegmented(.ss, (original &- UInt64((index + 1) * size)) & stackMask, size: size, value & mask(size))
        }
        writeRegister(4, size: stackAddressSize, rex: true, (original &- UInt64(8 * size)) & stackMask)
    }

    /// POPA/POPAD: DI SI BP, a skipped SP slot, BX DX CX AX; all loads before any register changes.
    func popAll(_ p: Prefixes) throws(Interruption) {
        guard !state.pointee.is64BitMode else { throw .fault(.ud) }
        let size = p.operandSize
        let stackMask = mask(stackAddressSize)
        let original = gpr[4]
        var values = InlineArray<8, UInt64>(repeating: 0)
        for slot in 0..<8 where slot != 3 {
            values[slot] = try readSegmented(.ss, (original &+ UInt64(slot * size)) & stackMask, size: size)
        }
        for slot in 0..<8 where slot != 3 { writeRegister(7 - slot, size: size, rex: true, values[slot]) }
        writeRegister(4, size: stackAddressSize, rex: true, (original &+ UInt64(8 * size)) & stackMask)
    }

    /// BOUND r, m16&16 / m32&32: #BR (a fault, vector 5) when the signed index is outside
    /// [lower, upper]; a register operand is #UD.
    func checkBound(_ i: inout Instruction) throws(Interruption) {
        guard !state.pointee.is64BitMode else { throw .fault(.ud) }
        let p = i.prefixes
        let size = p.operandSize
        let m = try decodeModRM(&i)
        guard case .memory(let segment, let offset) = m.operand else { throw .fault(.ud) }
        let lower = Int64(bitPattern: signExtend(try readSegmented(segment, offset, size: size), from: size))
        let upper = Int64(bitPattern: signExtend(try readSegmented(segment, offset &+ UInt64(size), size: size), from: size))
        let index = Int64(bitPattern: signExtend(readReg(m, size: size, p), from: size))
        if index < lower || index > upper { throw .fault(Fault(vector: Fault.boundRange, errorCode: nil)) }
    }

    /// ARPL r/m16, r16 (protected mode only; 63 is MOVSXD in 64-bit mode): raises the
    /// destination selector's RPL to the source's, ZF telling whether it did.
    func adjustRPL(_ i: inout Instruction) throws(Interruption) {
        let s = state.pointee
        guard s.isProtected && s.storedFlags & CPUState.vm == 0 else { throw .fault(.ud) }
        let p = i.prefixes
        let m = try decodeModRM(&i)
        let destination = try read(m.operand, size: 2, p)
        let source = readReg(m, size: 2, p)
        let raise = destination & 3 < source & 3
        if raise { try write(m.operand, size: 2, p, destination & ~3 | source & 3) }
        state.pointee.setFlag(CPUState.zf, raise)
    }

    /// SALC (D6): AL = CF ? FF : 00, flags unchanged. Undocumented by Intel, listed by AMD's
    /// opcode map as invalid only in 64-bit mode; AMD CPUs execute it elsewhere.
    func setALFromCarry() throws(Interruption) {
        guard !state.pointee.is64BitMode else { throw .fault(.ud) }
        writeRegister(0, size: 1, rex: false, state.pointee.flag(CPUState.cf) ? 0xFF : 0)
    }
}
