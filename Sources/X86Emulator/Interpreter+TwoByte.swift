import VMCore

/// The two-byte opcode map (0F xx).
extension Interpreter {
    /// Executes a 0F-prefixed instruction; returns a new RIP for control transfers.
    func twoByte(_ i: inout Instruction) throws(Interruption) -> UInt64? {
        let opcode = try fetch8(&i)
        let p = i.prefixes
        let os = p.operandSize
        switch opcode {
        case 0x00: try group6(&i)
        case 0x01: try group7(&i)
        case 0x05 where state.pointee.efer & 1 != 0 && state.pointee.isLongModeActive: return try syscall(i)
        case 0x07 where state.pointee.efer & 1 != 0 && state.pointee.isLongModeActive: return try sysret(p)
        case 0x06:
            try requireCPL0()
            state.pointee.cr0 &= ~UInt64(8)  // CLTS: clear CR0.TS
        case 0x08, 0x09: try requireCPL0()  // INVD, WBINVD: no caches to manage
        case 0x0B: throw .fault(.ud)  // UD2
        case 0x18...0x1F: _ = try decodeModRM(&i)  // hint NOPs and prefetches
        case 0x20, 0x22: try moveControlRegister(&i, toCR: opcode == 0x22)
        case 0x21, 0x23:
            try requireCPL0()
            let m = try decodeModRM(&i)
            guard case .register(let index) = m.operand else { throw .fault(.ud) }
            let number = m.reg & 7
            if opcode == 0x21 {
                writeRegister(index, size: state.pointee.is64BitMode ? 8 : 4, rex: true, debugRegister(number))
            } else {
                setDebugRegister(number, gpr[index])
            }
        case 0x30:  // WRMSR
            try requireCPL0()
            let value = gpr[2] << 32 | gpr[0] & 0xFFFF_FFFF
            try writeMSR(UInt32(truncatingIfNeeded: gpr[1]), value)
        case 0x31:  // RDTSC
            let s = state.pointee
            if s.cr4 & (1 << 2) != 0 && s.cpl > 0 { throw .fault(.gp()) }
            let tsc = timeStampCounter()
            writeRegister(0, size: 4, rex: true, tsc & 0xFFFF_FFFF)
            writeRegister(2, size: 4, rex: true, tsc >> 32)
        case 0x32:  // RDMSR
            try requireCPL0()
            let value = try readMSR(UInt32(truncatingIfNeeded: gpr[1]))
            writeRegister(0, size: 4, rex: true, value & 0xFFFF_FFFF)
            writeRegister(2, size: 4, rex: true, value >> 32)
        case 0x40...0x4F:  // CMOVcc (the destination is written even when false, zero-extending)
            let m = try decodeModRM(&i)
            let value = try read(m.operand, size: os, p)
            writeReg(m, size: os, p, condition(opcode & 0xF) ? value : readReg(m, size: os, p))
        case 0x80...0x8F:
            let displacement = try fetchSigned(&i, size: min(os, 4))
            return condition(opcode & 0xF) ? i.cursor &+ displacement : nil
        case 0x90...0x9F:
            let m = try decodeModRM(&i)
            try write(m.operand, size: 1, p, condition(opcode & 0xF) ? 1 : 0)
        case 0xA0, 0xA8:
            try push(UInt64(state.pointee.segment(opcode == 0xA0 ? .fs : .gs).selector), size: stackOperandSize(p))
        case 0xA1, 0xA9:
            let value = try pop(size: stackOperandSize(p))
            try loadSegment(opcode == 0xA1 ? .fs : .gs, UInt16(truncatingIfNeeded: value))
        case 0xA2: cpuid()
        case 0xA3, 0xAB, 0xB3, 0xBB:
            let m = try decodeModRM(&i)
            try bitTest(
                m, bitOffset: readReg(m, size: os, p), operation: [0xA3: 0, 0xAB: 1, 0xB3: 2, 0xBB: 3][opcode]!, p, registerOffsetIsSigned: true)
        case 0xBA:
            let m = try decodeModRM(&i, immediateSize: 1)
            let immediate = try fetch(&i, size: 1)
            guard m.reg & 7 >= 4 else { throw .fault(.ud) }
            try bitTest(m, bitOffset: immediate, operation: m.reg & 3, p, registerOffsetIsSigned: false)
        case 0xA4, 0xA5, 0xAC, 0xAD:  // SHLD, SHRD
            let m = try decodeModRM(&i, immediateSize: opcode & 1 == 0 ? 1 : 0)
            let count = opcode & 1 == 0 ? try fetch(&i, size: 1) : gpr[1]
            let result = doubleShift(try read(m.operand, size: os, p), readReg(m, size: os, p), count: count, left: opcode < 0xAC, size: os)
            try write(m.operand, size: os, p, result)
        case 0xAF:
            let m = try decodeModRM(&i)
            writeReg(m, size: os, p, signedMultiply(readReg(m, size: os, p), try read(m.operand, size: os, p), size: os))
        case 0xB0, 0xB1:  // CMPXCHG
            let size = opcode == 0xB0 ? 1 : os
            let m = try decodeModRM(&i)
            let destination = try read(m.operand, size: size, p)
            let accumulator = readRegister(0, size: size, rex: true)
            _ = subtract(accumulator, destination, borrow: 0, size: size)
            if accumulator == destination {
                try write(m.operand, size: size, p, readReg(m, size: size, p))
            } else {
                // A memory destination is written back unchanged (a locked cycle always writes);
                // a register destination is left alone, not even zero-extended (as the CPU does).
                if !m.isRegister { try write(m.operand, size: size, p, destination) }
                writeRegister(0, size: size, rex: true, destination)
            }
        case 0xB2, 0xB4, 0xB5:  // LSS, LFS, LGS
            let m = try decodeModRM(&i)
            guard case .memory(let segment, let offset) = m.operand else { throw .fault(.ud) }
            let value = try readSegmented(segment, offset, size: os)
            let selector = UInt16(try readSegmented(segment, offset &+ UInt64(os), size: 2))
            try loadSegment(opcode == 0xB2 ? .ss : (opcode == 0xB4 ? .fs : .gs), selector)
            writeReg(m, size: os, p, value)
        case 0xB6, 0xB7, 0xBE, 0xBF:  // MOVZX, MOVSX
            let sourceSize = opcode & 1 == 0 ? 1 : 2
            let m = try decodeModRM(&i)
            let value = try read(m.operand, size: sourceSize, p)
            writeReg(m, size: os, p, opcode >= 0xBE ? signExtend(value, from: sourceSize) & mask(os) : value)
        case 0xBC, 0xBD:  // BSF, BSR
            let m = try decodeModRM(&i)
            let value = try read(m.operand, size: os, p) & mask(os)
            // ZF=1 and the destination unchanged for a zero source (AMD documents it; Intel CPUs do it).
            state.pointee.rflags = state.pointee.rflags & ~CPUState.arithmeticFlags | (value == 0 ? CPUState.zf : 0)
            if value != 0 {
                writeReg(m, size: os, p, UInt64(opcode == 0xBC ? value.trailingZeroBitCount : 63 - value.leadingZeroBitCount))
            }
        case 0xC0, 0xC1:  // XADD
            let size = opcode == 0xC0 ? 1 : os
            let m = try decodeModRM(&i)
            let destination = try read(m.operand, size: size, p)
            let source = readReg(m, size: size, p)
            let sum = add(destination, source, carry: 0, size: size)
            writeReg(m, size: size, p, destination)
            try write(m.operand, size: size, p, sum)
        case 0xC7:  // CMPXCHG8B / CMPXCHG16B
            let m = try decodeModRM(&i)
            guard m.reg & 7 == 1, case .memory(let segment, let offset) = m.operand else { throw .fault(.ud) }
            let wide = p.rexW
            let half = wide ? 8 : 4
            if wide && offset & 0xF != 0 { throw .fault(.gp()) }
            let low = try readSegmented(segment, offset, size: half), high = try readSegmented(segment, offset &+ UInt64(half), size: half)
            let expectedLow = readRegister(0, size: half, rex: true), expectedHigh = readRegister(2, size: half, rex: true)
            if low == expectedLow && high == expectedHigh {
                try writeSegmented(segment, offset, size: half, readRegister(3, size: half, rex: true))
                try writeSegmented(segment, offset &+ UInt64(half), size: half, readRegister(1, size: half, rex: true))
                state.pointee.setFlag(CPUState.zf, true)
            } else {
                try writeSegmented(segment, offset, size: half, low)
                try writeSegmented(segment, offset &+ UInt64(half), size: half, high)
                writeRegister(0, size: half, rex: true, low)
                writeRegister(2, size: half, rex: true, high)
                state.pointee.setFlag(CPUState.zf, false)
            }
        case 0xC8...0xCF:  // BSWAP
            let index = Int(opcode & 7) + p.rexB
            let value = readRegister(index, size: os, rex: true)
            writeRegister(index, size: os, rex: true, os == 8 ? value.byteSwapped : UInt64(UInt32(truncatingIfNeeded: value).byteSwapped))
        default:
            throw .fault(.ud)
        }
        return nil
    }

    func requireCPL0() throws(Interruption) {
        if state.pointee.cpl != 0 { throw .fault(.gp()) }
    }

    /// BT, BTS, BTR, BTC. A register bit offset addresses memory beyond the operand (signed).
    func bitTest(_ m: ModRM, bitOffset: UInt64, operation: Int, _ p: Prefixes, registerOffsetIsSigned: Bool) throws(Interruption) {
        let size = p.operandSize
        let bits = UInt64(size * 8)
        var operand = m.operand
        var bit = bitOffset & (bits - 1)
        if case .memory(let segment, let offset) = m.operand, registerOffsetIsSigned {
            let signed = Int64(bitPattern: signExtend(bitOffset & mask(size), from: size))
            let elementOffset = (signed >> Int64(bits.trailingZeroBitCount)) * Int64(size)
            operand = .memory(segment, offset &+ UInt64(bitPattern: elementOffset))
            bit = UInt64(bitPattern: signed) & (bits - 1)
        }
        let value = try read(operand, size: size, p)
        state.pointee.setFlag(CPUState.cf, (value >> bit) & 1 != 0)
        let updated: UInt64
        switch operation {
        case 1: updated = value | (1 << bit)
        case 2: updated = value & ~(1 << bit)
        case 3: updated = value ^ (1 << bit)
        default: return
        }
        try write(operand, size: size, p, updated)
    }

    func doubleShift(_ destination: UInt64, _ source: UInt64, count rawCount: UInt64, left: Bool, size: Int) -> UInt64 {
        let bits = UInt64(size * 8)
        let count = rawCount & (size == 8 ? 63 : 31)
        guard count != 0 else { return destination & mask(size) }
        let d = destination & mask(size), s = source & mask(size)
        guard count <= bits else { return d }  // undefined for 16-bit counts above 16; left unchanged
        let result: UInt64, carry: Bool
        if left {
            result = count == bits ? s : ((d << count) | (s >> (bits - count))) & mask(size)
            carry = (d >> (bits - count)) & 1 != 0
        } else {
            result = count == bits ? s : ((d >> count) | (s << (bits - count))) & mask(size)
            carry = (d >> (count - 1)) & 1 != 0
        }
        setArithmeticFlags(result, size: size, carry: carry, overflow: (result ^ d) & signBit(size) != 0, adjust: false)
        return result
    }

    func timeStampCounter() -> UInt64 {
        clock.nanoseconds &+ state.pointee.tscOffset
    }
}
