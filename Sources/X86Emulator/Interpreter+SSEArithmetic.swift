import CSSE
import VMCore

/// The SSE/SSE2/MMX arithmetic: each opcode and prefix column names one host instruction
/// (`csse_binary_op`). MMX forms run the SSE2 instruction on the low quadword, which gives the
/// same result; the unpack-high and pack forms are rearranged so that it does.
extension Interpreter {
    /// The host instruction for `opcode` in `column`, and the size of its memory operand.
    struct MediaOperation {
        var op: csse_binary_op
        var memorySize: Int
        var integer: Bool
    }

    static func floatingPointOperation(_ opcode: UInt8, _ column: MediaColumn) -> MediaOperation? {
        let columns: [csse_binary_op]
        switch opcode {
        case 0x14: columns = [csse_unpcklps, csse_unpcklpd]
        case 0x15: columns = [csse_unpckhps, csse_unpckhpd]
        case 0x51: columns = [csse_sqrtps, csse_sqrtpd, csse_sqrtss, csse_sqrtsd]
        case 0x52: columns = [csse_rsqrtps, csse_binary_count, csse_rsqrtss]
        case 0x53: columns = [csse_rcpps, csse_binary_count, csse_rcpss]
        case 0x54: columns = [csse_andps, csse_pand]
        case 0x55: columns = [csse_andnps, csse_pandn]
        case 0x56: columns = [csse_orps, csse_por]
        case 0x57: columns = [csse_xorps, csse_pxor]
        case 0x58: columns = [csse_addps, csse_addpd, csse_addss, csse_addsd]
        case 0x59: columns = [csse_mulps, csse_mulpd, csse_mulss, csse_mulsd]
        case 0x5A: columns = [csse_cvtps2pd, csse_cvtpd2ps, csse_cvtss2sd, csse_cvtsd2ss]
        case 0x5B: columns = [csse_cvtdq2ps, csse_cvtps2dq, csse_cvttps2dq]
        case 0x5C: columns = [csse_subps, csse_subpd, csse_subss, csse_subsd]
        case 0x5D: columns = [csse_minps, csse_minpd, csse_minss, csse_minsd]
        case 0x5E: columns = [csse_divps, csse_divpd, csse_divss, csse_divsd]
        case 0x5F: columns = [csse_maxps, csse_maxpd, csse_maxss, csse_maxsd]
        case 0xE6: columns = [csse_binary_count, csse_cvttpd2dq, csse_cvtdq2pd, csse_cvtpd2dq]
        default: return nil
        }
        let index = column.rawValue
        guard index < columns.count, columns[index] != csse_binary_count else { return nil }
        // Scalars read 4 or 8 bytes; CVTPS2PD and CVTDQ2PD read 8; the rest 16, aligned.
        var size = index == 2 ? 4 : (index == 3 ? 8 : 16)
        if (opcode == 0x5A && index == 0) || (opcode == 0xE6 && index == 2) { size = 8 }
        if opcode == 0x5B || (opcode == 0xE6 && index == 3) { size = 16 }
        return MediaOperation(op: columns[index], memorySize: size, integer: false)
    }

    /// The integer operations shared by MMX (no prefix) and SSE2 (66).
    static let integerOperations: [UInt8: csse_binary_op] = [
        0x60: csse_punpcklbw, 0x61: csse_punpcklwd, 0x62: csse_punpckldq, 0x63: csse_packsswb,
        0x64: csse_pcmpgtb, 0x65: csse_pcmpgtw, 0x66: csse_pcmpgtd, 0x67: csse_packuswb,
        0x68: csse_punpckhbw, 0x69: csse_punpckhwd, 0x6A: csse_punpckhdq, 0x6B: csse_packssdw,
        0x6C: csse_punpcklqdq, 0x6D: csse_punpckhqdq, 0x74: csse_pcmpeqb, 0x75: csse_pcmpeqw, 0x76: csse_pcmpeqd,
        0xD1: csse_psrlw, 0xD2: csse_psrld, 0xD3: csse_psrlq, 0xD4: csse_paddq, 0xD5: csse_pmullw,
        0xD8: csse_psubusb, 0xD9: csse_psubusw, 0xDA: csse_pminub, 0xDB: csse_pand,
        0xDC: csse_paddusb, 0xDD: csse_paddusw, 0xDE: csse_pmaxub, 0xDF: csse_pandn,
        0xE0: csse_pavgb, 0xE1: csse_psraw, 0xE2: csse_psrad, 0xE3: csse_pavgw, 0xE4: csse_pmulhuw, 0xE5: csse_pmulhw,
        0xE8: csse_psubsb, 0xE9: csse_psubsw, 0xEA: csse_pminsw, 0xEB: csse_por,
        0xEC: csse_paddsb, 0xED: csse_paddsw, 0xEE: csse_pmaxsw, 0xEF: csse_pxor,
        0xF1: csse_psllw, 0xF2: csse_pslld, 0xF3: csse_psllq, 0xF4: csse_pmuludq, 0xF5: csse_pmaddwd, 0xF6: csse_psadbw,
        0xF8: csse_psubb, 0xF9: csse_psubw, 0xFA: csse_psubd, 0xFB: csse_psubq,
        0xFC: csse_paddb, 0xFD: csse_paddw, 0xFE: csse_paddd,
    ]

    func mediaArithmetic(_ opcode: UInt8, _ column: MediaColumn, _ i: inout Instruction) throws(Interruption) {
        if let operation = Self.floatingPointOperation(opcode, column) {
            try requireSSE()
            let m = try decodeModRM(&i)
            let source = try xmmSource(m, size: operation.memorySize, aligned: operation.memorySize == 16)
            var destination = xmm(m.reg)
            try hostBinary(operation.op, &destination, source)
            setXMM(m.reg, destination)
            return
        }
        guard let op = Self.integerOperations[opcode], column == .none || column == .operandSize else { throw .fault(.ud) }
        if column == .operandSize {
            try requireSSE()
            let m = try decodeModRM(&i)
            let source = try xmmSource(m, size: 16, aligned: true)
            var destination = xmm(m.reg)
            try hostBinary(op, &destination, source)
            setXMM(m.reg, destination)
            return
        }
        guard opcode != 0x6C && opcode != 0x6D else { throw .fault(.ud) }
        try enterMMXMode()
        let m = try decodeModRM(&i)
        setMMX(m.reg, try mmxOperation(op, opcode, mmx(m.reg), try mmxSource(m)))
    }

    /// An MMX operation through its SSE2 form on the low quadword.
    private func mmxOperation(_ op: csse_binary_op, _ opcode: UInt8, _ destination: UInt64, _ source: UInt64) throws(Interruption) -> UInt64 {
        switch opcode {
        case 0x68, 0x69, 0x6A:  // PUNPCKH*: interleave the high halves = PUNPCKL* of the halves moved down
            var d = csse_xmm(low: destination >> 32, high: 0)
            try hostBinary(Self.integerOperations[opcode - 8]!, &d, csse_xmm(low: source >> 32, high: 0))
            return d.low
        case 0x63, 0x67, 0x6B:  // PACK*: destination and source side by side, packed into the low quadword
            var d = csse_xmm(low: destination, high: source)
            try hostBinary(op, &d, d)
            return d.low
        default:
            var d = csse_xmm(low: destination, high: 0)
            try hostBinary(op, &d, csse_xmm(low: source, high: 0))
            return d.low
        }
    }

    /// 0F 71/72/73: shifts of an MMX or XMM register by an immediate count.
    func shiftByImmediate(_ opcode: UInt8, _ column: MediaColumn, _ i: inout Instruction) throws(Interruption) {
        guard column == .none || column == .operandSize else { throw .fault(.ud) }
        let m = try decodeModRM(&i, immediateSize: 1)
        guard case .register(let index) = m.operand else { throw .fault(.ud) }
        let operations: [UInt8: [Int: csse_binary_op]] = [
            0x71: [2: csse_psrlw, 4: csse_psraw, 6: csse_psllw],
            0x72: [2: csse_psrld, 4: csse_psrad, 6: csse_pslld],
            0x73: [2: csse_psrlq, 6: csse_psllq],
        ]
        let group = m.reg & 7
        let byteShift = opcode == 0x73 && (group == 3 || group == 7)
        guard byteShift || operations[opcode]?[group] != nil else { throw .fault(.ud) }
        if byteShift && column == .none { throw .fault(.ud) }
        if column == .none { try enterMMXMode() } else { try requireSSE() }
        let count = UInt64(try fetch8(&i))
        if column == .none {
            var d = csse_xmm(low: mmx(Int(m.rm)), high: 0)
            try hostBinary(operations[opcode]![group]!, &d, csse_xmm(low: count, high: 0))
            setMMX(Int(m.rm), d.low)
        } else if byteShift {
            setXMM(index, shiftBytes(xmm(index), by: Int(count), left: group == 7))
        } else {
            var d = xmm(index)
            try hostBinary(operations[opcode]![group]!, &d, csse_xmm(low: count, high: 0))
            setXMM(index, d)
        }
    }

    /// PSLLDQ/PSRLDQ: the 128-bit value shifted by whole bytes (16 or more clear it).
    func shiftBytes(_ value: csse_xmm, by count: Int, left: Bool) -> csse_xmm {
        guard count < 16 else { return csse_xmm(low: 0, high: 0) }
        guard count > 0 else { return value }
        let bits = UInt64(count * 8)
        if left {
            if bits >= 64 { return csse_xmm(low: 0, high: value.low << (bits - 64)) }
            return csse_xmm(low: value.low << bits, high: value.high << bits | value.low >> (64 - bits))
        }
        if bits >= 64 { return csse_xmm(low: value.high >> (bits - 64), high: 0) }
        return csse_xmm(low: value.low >> bits | value.high << (64 - bits), high: value.high >> bits)
    }

    /// CVTPI2PS/PD, CVTSI2SS/SD (0F 2A) and the conversions to integers (0F 2C truncating, 2D
    /// rounding by MXCSR.RC).
    func conversion(_ opcode: UInt8, _ column: MediaColumn, _ i: inout Instruction) throws(Interruption) {
        try requireSSE()
        let p = i.prefixes
        let m = try decodeModRM(&i)
        let truncating = opcode == 0x2C
        switch (opcode, column) {
        case (0x2A, .none), (0x2A, .operandSize):  // from two int32 in mm/m64; a register source switches to MMX mode
            if m.isRegister { try enterMMXMode() }
            let source = csse_xmm(low: try mmxSource(m), high: 0)
            var result = xmm(m.reg)
            try hostBinary(column == .none ? csse_cvtdq2ps : csse_cvtdq2pd, &result, source)
            setXMM(m.reg, column == .none ? csse_xmm(low: result.low, high: xmm(m.reg).high) : result)
        case (0x2A, .repeatPrefix), (0x2A, .repeatNotEqual):
            let wide = p.rexW
            let value = try read(m.operand, size: wide ? 8 : 4, p)
            var result = xmm(m.reg)
            try commitSIMDFlags(csse_from_integer(column == .repeatPrefix ? 0 : 1, wide ? 1 : 0, &result, value, mxcsr))
            setXMM(m.reg, result)
        case (_, .none), (_, .operandSize):  // CVT(T)PS2PI, CVT(T)PD2PI to mm
            let single = column == .none
            let source = try xmmSource(m, size: single ? 8 : 16, aligned: !single)
            try enterMMXMode()
            var result = single ? csse_xmm(low: source.low, high: 0) : source
            let op =
                single ? (truncating ? csse_cvttps2dq : csse_cvtps2dq) : (truncating ? csse_cvttpd2dq : csse_cvtpd2dq)
            try hostBinary(op, &result, result)
            setMMX(m.reg, result.low)
        default:  // CVT(T)SS2SI, CVT(T)SD2SI
            let single = column == .repeatPrefix
            let source = try xmmSource(m, size: single ? 4 : 8, aligned: false)
            var result: UInt64 = 0
            let kind = Int32((single ? 0 : 2) + (truncating ? 1 : 0))
            try commitSIMDFlags(csse_to_integer(kind, p.rexW ? 1 : 0, source, mxcsr, &result))
            writeRegister(m.reg, size: p.rexW ? 8 : 4, rex: true, result)
        }
    }
}
