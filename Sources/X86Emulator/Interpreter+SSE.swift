import CSSE
import VMCore

/// The SSE, SSE2 and MMX opcodes of the two-byte map (SDM vol. 2, table A-3): moves here, the
/// arithmetic through `mediaArithmetic`, which runs the host instruction.
extension Interpreter {
    /// The mandatory-prefix column of an SSE opcode; F3 and F2 take precedence over 66.
    enum MediaColumn: Int {
        case none = 0
        case operandSize, repeatPrefix, repeatNotEqual
    }

    func mediaColumn(_ p: Prefixes) -> MediaColumn {
        p.rep == 0xF3 ? .repeatPrefix : (p.rep == 0xF2 ? .repeatNotEqual : (p.hasOperandSizePrefix ? .operandSize : .none))
    }

    /// Executes 0F 10-17, 28-2F, 50-7F, C2-C6 and D0-FF.
    func mediaInstruction(_ opcode: UInt8, _ i: inout Instruction) throws(Interruption) {
        let column = mediaColumn(i.prefixes)
        switch opcode {
        case 0x10, 0x11, 0x28, 0x29, 0x12, 0x13, 0x16, 0x17, 0x2B, 0x50:
            try requireSSE()
            try floatingPointMove(opcode, column, &i)
        case 0x6E, 0x6F, 0x7E, 0x7F, 0xD6, 0xE7, 0xD7, 0xF7, 0xC4, 0xC5, 0x70:
            try integerMove(opcode, column, &i)
        case 0x2A, 0x2C, 0x2D:
            try conversion(opcode, column, &i)
        case 0x77:
            guard column == .none else { throw .fault(.ud) }
            // EMMS: the checks and TOP = 0 of every MMX instruction (SDM vol. 1, table 9-2, and
            // what the CPU does), then every register empty.
            try enterMMXMode()
            state.pointee.x87.tag = 0xFFFF
        case 0x71, 0x72, 0x73:
            try shiftByImmediate(opcode, column, &i)
        case 0x2E, 0x2F:
            guard column == .none || column == .operandSize else { throw .fault(.ud) }
            try requireSSE()
            let m = try decodeModRM(&i)
            let double = column == .operandSize
            let source = try xmmSource(m, size: double ? 8 : 4, aligned: false)
            var flags: UInt64 = 0
            let kind = Int32((double ? 2 : 0) + (opcode == 0x2E ? 1 : 0))
            try commitSIMDFlags(csse_compare_flags(kind, xmm(m.reg), source, mxcsr, &flags))
            state.pointee.rflags = state.pointee.rflags & ~CPUState.arithmeticFlags | flags & (CPUState.zf | CPUState.pf | CPUState.cf)
        case 0xC2:
            try requireSSE()
            let m = try decodeModRM(&i, immediateSize: 1)
            let kind = Int32(column.rawValue)  // ps, pd, ss, sd
            let source = try xmmSource(m, size: kind == 2 ? 4 : (kind == 3 ? 8 : 16), aligned: kind < 2)
            let predicate = Int32(try fetch8(&i))
            var result = xmm(m.reg)
            try commitSIMDFlags(csse_compare(kind, predicate, &result, source, mxcsr))
            setXMM(m.reg, result)
        case 0xC6:  // SHUFPS, SHUFPD
            guard column == .none || column == .operandSize else { throw .fault(.ud) }
            try requireSSE()
            let m = try decodeModRM(&i, immediateSize: 1)
            let source = try xmmSource(m, size: 16, aligned: true)
            let order = try fetch8(&i)
            let destination = xmm(m.reg)
            if column == .none {
                let a = dwords(destination), b = dwords(source)
                let o = Int(order)
                setXMM(m.reg, fromDwords(a[o & 3], a[(o >> 2) & 3], b[(o >> 4) & 3], b[(o >> 6) & 3]))
            } else {
                let low = order & 1 == 0 ? destination.low : destination.high
                let high = order & 2 == 0 ? source.low : source.high
                setXMM(m.reg, csse_xmm(low: low, high: high))
            }
        default:
            try mediaArithmetic(opcode, column, &i)
        }
    }

    // MARK: - Floating-point moves

    private func floatingPointMove(_ opcode: UInt8, _ column: MediaColumn, _ i: inout Instruction) throws(Interruption) {
        let m = try decodeModRM(&i)
        let scalarSize = column == .repeatPrefix ? 4 : 8
        switch (opcode, column) {
        case (0x10, .none), (0x10, .operandSize), (0x28, .none), (0x28, .operandSize):  // MOVUPS/MOVUPD/MOVAPS/MOVAPD load
            setXMM(m.reg, try xmmSource(m, size: 16, aligned: opcode == 0x28))
        case (0x11, .none), (0x11, .operandSize), (0x29, .none), (0x29, .operandSize):
            try writeXMMDestination(m, size: 16, aligned: opcode == 0x29, xmm(m.reg))
        case (0x10, .repeatPrefix), (0x10, .repeatNotEqual):  // MOVSS/MOVSD: a load zeroes the rest
            if case .register(let index) = m.operand {
                setXMM(m.reg, mergeLow(xmm(m.reg), xmm(index), size: scalarSize))
            } else {
                setXMM(m.reg, try xmmSource(m, size: scalarSize, aligned: false))
            }
        case (0x11, .repeatPrefix), (0x11, .repeatNotEqual):
            if case .register(let index) = m.operand {
                setXMM(index, mergeLow(xmm(index), xmm(m.reg), size: scalarSize))
            } else {
                try writeXMMDestination(m, size: scalarSize, aligned: false, xmm(m.reg))
            }
        case (0x12, .none), (0x12, .operandSize), (0x16, .none), (0x16, .operandSize):
            // MOVLPS/MOVLPD and MOVHPS/MOVHPD loads; MOVHLPS and MOVLHPS (no prefix, registers).
            var value = xmm(m.reg)
            let loaded: UInt64
            if case .register(let index) = m.operand {
                guard column == .none else { throw .fault(.ud) }
                loaded = opcode == 0x12 ? xmm(index).high : xmm(index).low
            } else {
                loaded = try xmmSource(m, size: 8, aligned: false).low
            }
            if opcode == 0x12 { value.low = loaded } else { value.high = loaded }
            setXMM(m.reg, value)
        case (0x13, .none), (0x13, .operandSize), (0x17, .none), (0x17, .operandSize):  // MOVLPS/MOVHPS m64, xmm
            let (segment, offset) = try memoryOperand(m)
            let value = xmm(m.reg)
            try storeMedia(segment, offset, size: 8, aligned: false, csse_xmm(low: opcode == 0x13 ? value.low : value.high, high: 0))
        case (0x2B, .none), (0x2B, .operandSize):  // MOVNTPS/MOVNTPD: a plain store here
            let (segment, offset) = try memoryOperand(m)
            try storeMedia(segment, offset, size: 16, aligned: true, xmm(m.reg))
        case (0x50, .none), (0x50, .operandSize):  // MOVMSKPS/MOVMSKPD
            guard case .register(let index) = m.operand else { throw .fault(.ud) }
            let value = xmm(index)
            let mask: UInt64
            if column == .none {
                let d = dwords(value)
                mask = UInt64(d[0] >> 31 | (d[1] >> 31) << 1 | (d[2] >> 31) << 2 | (d[3] >> 31) << 3)
            } else {
                mask = value.low >> 63 | (value.high >> 63) << 1
            }
            writeRegister(m.reg, size: 8, rex: true, mask)
        default:
            throw .fault(.ud)
        }
    }

    /// The low `size` bytes of `source` over `destination` (the register forms of MOVSS/MOVSD).
    func mergeLow(_ destination: csse_xmm, _ source: csse_xmm, size: Int) -> csse_xmm {
        let keep: UInt64 = size == 4 ? 0xFFFF_FFFF_0000_0000 : 0
        return csse_xmm(low: destination.low & keep | source.low & ~keep, high: destination.high)
    }

    func dwords(_ v: csse_xmm) -> [UInt32] {
        [
            UInt32(truncatingIfNeeded: v.low), UInt32(truncatingIfNeeded: v.low >> 32), UInt32(truncatingIfNeeded: v.high),
            UInt32(truncatingIfNeeded: v.high >> 32),
        ]
    }

    func fromDwords(_ a: UInt32, _ b: UInt32, _ c: UInt32, _ d: UInt32) -> csse_xmm {
        csse_xmm(low: UInt64(a) | UInt64(b) << 32, high: UInt64(c) | UInt64(d) << 32)
    }

    // MARK: - Integer moves and word operations

    private func integerMove(_ opcode: UInt8, _ column: MediaColumn, _ i: inout Instruction) throws(Interruption) {
        let p = i.prefixes
        switch (opcode, column) {
        case (0x6E, .none), (0x6E, .operandSize):  // MOVD/MOVQ mm/xmm, r/m32/64
            if column == .none { try enterMMXMode() } else { try requireSSE() }
            let m = try decodeModRM(&i)
            let size = p.rexW ? 8 : 4
            let value = try read(m.operand, size: size, p) & mask(size)
            if column == .none { setMMX(m.reg, value) } else { setXMM(m.reg, csse_xmm(low: value, high: 0)) }
        case (0x7E, .none), (0x7E, .operandSize):  // MOVD/MOVQ r/m32/64, mm/xmm
            if column == .none { try enterMMXMode() } else { try requireSSE() }
            let m = try decodeModRM(&i)
            let size = p.rexW ? 8 : 4
            try write(m.operand, size: size, p, column == .none ? mmx(m.reg) : xmm(m.reg).low)
        case (0x7E, .repeatPrefix):  // MOVQ xmm, xmm/m64 (zeroes the high quadword)
            try requireSSE()
            let m = try decodeModRM(&i)
            setXMM(m.reg, csse_xmm(low: try xmmSource(m, size: 8, aligned: false).low, high: 0))
        case (0xD6, .operandSize):  // MOVQ xmm/m64, xmm
            try requireSSE()
            let m = try decodeModRM(&i)
            let value = csse_xmm(low: xmm(m.reg).low, high: 0)
            if case .register(let index) = m.operand { setXMM(index, value) } else { try writeXMMDestination(m, size: 8, aligned: false, value) }
        case (0xD6, .repeatPrefix), (0xD6, .repeatNotEqual):  // MOVQ2DQ xmm, mm; MOVDQ2Q mm, xmm
            try requireSSE()
            let m = try decodeModRM(&i)
            guard case .register(let index) = m.operand else { throw .fault(.ud) }
            try enterMMXMode()
            if column == .repeatPrefix { setXMM(m.reg, csse_xmm(low: mmx(index), high: 0)) } else { setMMX(m.reg, xmm(index).low) }
        case (0x6F, .none):  // MOVQ mm, mm/m64
            try enterMMXMode()
            let m = try decodeModRM(&i)
            setMMX(m.reg, try mmxSource(m))
        case (0x7F, .none), (0xE7, .none):  // MOVQ mm/m64, mm; MOVNTQ m64, mm
            try enterMMXMode()
            let m = try decodeModRM(&i)
            switch m.operand {
            case .register: if opcode == 0xE7 { throw .fault(.ud) } else { setMMX(Int(m.rm), mmx(m.reg)) }
            case .memory(let segment, let offset): try storeMedia(segment, offset, size: 8, aligned: false, csse_xmm(low: mmx(m.reg), high: 0))
            }
        case (0x6F, .operandSize), (0x6F, .repeatPrefix):  // MOVDQA, MOVDQU loads
            try requireSSE()
            let m = try decodeModRM(&i)
            setXMM(m.reg, try xmmSource(m, size: 16, aligned: column == .operandSize))
        case (0x7F, .operandSize), (0x7F, .repeatPrefix):
            try requireSSE()
            let m = try decodeModRM(&i)
            try writeXMMDestination(m, size: 16, aligned: column == .operandSize, xmm(m.reg))
        case (0xE7, .operandSize):  // MOVNTDQ
            try requireSSE()
            let m = try decodeModRM(&i)
            let (segment, offset) = try memoryOperand(m)
            try storeMedia(segment, offset, size: 16, aligned: true, xmm(m.reg))
        case (0xD7, .none), (0xD7, .operandSize):  // PMOVMSKB r32, mm/xmm
            if column == .none { try enterMMXMode() } else { try requireSSE() }
            let m = try decodeModRM(&i)
            guard case .register(let index) = m.operand else { throw .fault(.ud) }
            let value = column == .none ? csse_xmm(low: mmx(Int(m.rm)), high: 0) : xmm(index)
            writeRegister(m.reg, size: 8, rex: true, UInt64(byteSignMask(value.low)) | UInt64(byteSignMask(value.high)) << 8)
        case (0xF7, .none), (0xF7, .operandSize):  // MASKMOVQ / MASKMOVDQU to [rDI]
            if column == .none { try enterMMXMode() } else { try requireSSE() }
            let m = try decodeModRM(&i)
            guard case .register(let index) = m.operand else { throw .fault(.ud) }
            let data = column == .none ? csse_xmm(low: mmx(m.reg), high: 0) : xmm(m.reg)
            let selector = column == .none ? csse_xmm(low: mmx(Int(m.rm)), high: 0) : xmm(index)
            try maskedStore(data, selector: selector, count: column == .none ? 8 : 16, p)
        case (0xC4, .none), (0xC4, .operandSize):  // PINSRW mm/xmm, r32/m16, imm8
            if column == .none { try enterMMXMode() } else { try requireSSE() }
            let m = try decodeModRM(&i, immediateSize: 1)
            let word = try read(m.operand, size: 2, p) & 0xFFFF
            let position = UInt64(try fetch8(&i)) & (column == .none ? 3 : 7)
            if column == .none {
                let shift = position * 16
                setMMX(m.reg, mmx(m.reg) & ~(0xFFFF << shift) | word << shift)
            } else {
                var value = xmm(m.reg)
                let shift = (position & 3) * 16
                if position < 4 {
                    value.low = value.low & ~(0xFFFF << shift) | word << shift
                } else {
                    value.high = value.high & ~(0xFFFF << shift) | word << shift
                }
                setXMM(m.reg, value)
            }
        case (0xC5, .none), (0xC5, .operandSize):  // PEXTRW r32, mm/xmm, imm8
            if column == .none { try enterMMXMode() } else { try requireSSE() }
            let m = try decodeModRM(&i, immediateSize: 1)
            guard case .register(let index) = m.operand else { throw .fault(.ud) }
            let position = UInt64(try fetch8(&i)) & (column == .none ? 3 : 7)
            let value = column == .none ? csse_xmm(low: mmx(Int(m.rm)), high: 0) : xmm(index)
            let quad = position < 4 ? value.low : value.high
            writeRegister(m.reg, size: 8, rex: true, (quad >> ((position & 3) * 16)) & 0xFFFF)
        case (0x70, _):  // PSHUFW, PSHUFD, PSHUFHW, PSHUFLW
            if column == .none { try enterMMXMode() } else { try requireSSE() }
            let m = try decodeModRM(&i, immediateSize: 1)
            let source = column == .none ? csse_xmm(low: try mmxSource(m), high: 0) : try xmmSource(m, size: 16, aligned: true)
            let order = UInt64(try fetch8(&i))
            func shuffleWords(_ q: UInt64) -> UInt64 {
                var result: UInt64 = 0
                for slot in 0..<UInt64(4) { result |= ((q >> (((order >> (2 * slot)) & 3) * 16)) & 0xFFFF) << (16 * slot) }
                return result
            }
            switch column {
            case .none: setMMX(m.reg, shuffleWords(source.low))
            case .operandSize:
                let d = dwords(source)
                setXMM(m.reg, fromDwords(d[Int(order & 3)], d[Int((order >> 2) & 3)], d[Int((order >> 4) & 3)], d[Int((order >> 6) & 3)]))
            case .repeatPrefix: setXMM(m.reg, csse_xmm(low: source.low, high: shuffleWords(source.high)))
            case .repeatNotEqual: setXMM(m.reg, csse_xmm(low: shuffleWords(source.low), high: source.high))
            }
        default:
            throw .fault(.ud)
        }
    }

    func byteSignMask(_ q: UInt64) -> UInt8 {
        var result: UInt8 = 0
        for index in 0..<8 { result |= UInt8((q >> (8 * UInt64(index) + 7)) & 1) << index }
        return result
    }

    /// MASKMOVQ/MASKMOVDQU: the bytes whose selector byte has its top bit set go to DS:rDI.
    private func maskedStore(_ data: csse_xmm, selector: csse_xmm, count: Int, _ p: Prefixes) throws(Interruption) {
        let segment = p.segmentOverride ?? .ds
        let base = gpr[7] & addressMask(p)
        let linear = try linearAddress(segment, base, size: count)
        try probeWrite(linear, count: count)
        for index in 0..<count {
            let quad = index < 8 ? selector.low : selector.high
            let shift = UInt64(index & 7) * 8
            guard (quad >> (shift + 7)) & 1 != 0 else { continue }
            let byte = ((index < 8 ? data.low : data.high) >> shift) & 0xFF
            try writeSegmented(segment, (base &+ UInt64(index)) & addressMask(p), size: 1, byte)
        }
    }
}
