/// The decimal-arithmetic adjustments DAA, DAS, AAA, AAS, AAM and AAD (SDM vol. 2, each
/// instruction's "Operation"); all raise #UD in 64-bit mode.
///
/// Flags the manuals leave undefined (OF for DAA/DAS; OF, SF, ZF, PF for AAA/AAS; OF, AF, CF for
/// AAM/AAD) are computed as for a logical result in AL: OF (and AF/CF where undefined) clear,
/// SF/ZF/PF from AL. AMD documents none of them; this is what the reference models of recent
/// CPUs (Bochs) do, one fixed rule rather than per-instruction guesses. These instructions do not
/// exist in 64-bit mode, so the differential tester cannot compare them on the host.
extension Interpreter {
    func decimalAdjust(_ opcode: UInt8) throws(Interruption) {
        guard !state.pointee.is64BitMode else { throw .fault(.ud) }
        let flags = state.pointee.rflags
        let carry = flags & CPUState.cf != 0, adjust = flags & CPUState.af != 0
        let al = gpr[0] & 0xFF
        var newCarry = false, newAdjust = false
        switch opcode {
        case 0x27, 0x2F:  // DAA, DAS
            let subtracting = opcode == 0x2F
            var result = al
            if al & 0xF > 9 || adjust {
                result = (subtracting ? result &- 6 : result &+ 6) & 0xFF
                newAdjust = true
                newCarry = carry || (subtracting ? al < 6 : al > 0xF9)
            }
            if al > 0x99 || carry {
                result = (subtracting ? result &- 0x60 : result &+ 0x60) & 0xFF
                newCarry = true
            }
            writeRegister(0, size: 1, rex: false, result)
        default:  // AAA (0x37), AAS (0x3F): AX +/- 0x106, then AL's high nibble cleared
            var ax = gpr[0] & 0xFFFF
            if al & 0xF > 9 || adjust {
                ax = (opcode == 0x37 ? ax &+ 0x106 : ax &- 0x106) & 0xFFFF
                newAdjust = true
                newCarry = true
            }
            writeRegister(0, size: 2, rex: false, ax & 0xFF0F)
        }
        setArithmeticFlags(gpr[0] & 0xFF, size: 1, carry: newCarry, overflow: false, adjust: newAdjust)
    }

    /// AAM imm8 (AH = AL / imm, AL = AL mod imm; #DE for 0) and AAD imm8 (AL = AH * imm + AL, AH = 0).
    /// The immediate is any base, not only the 10 that assemblers emit.
    func asciiAdjustMultiplyOrDivide(_ opcode: UInt8, base: UInt64) throws(Interruption) {
        guard !state.pointee.is64BitMode else { throw .fault(.ud) }
        let al = gpr[0] & 0xFF, ah = (gpr[0] >> 8) & 0xFF
        let result: UInt64
        if opcode == 0xD4 {
            guard base != 0 else { throw .fault(.de) }
            result = (al / base) << 8 | al % base
        } else {
            result = (ah &* base &+ al) & 0xFF
        }
        writeRegister(0, size: 2, rex: false, result)
        _ = logic(result & 0xFF, size: 1)
    }
}
