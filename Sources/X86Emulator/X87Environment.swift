import VMCore

/// The x87 control and environment instructions with a memory operand: FLDCW, FNSTCW,
/// FNSTSW m16, FNSTENV, FLDENV, FNSAVE, FRSTOR, and the layouts they use (SDM vol. 1, 8.1.10,
/// figures 8-9 to 8-12): 14 bytes with a 16-bit operand size, 28 with 32 (and in 64-bit mode,
/// where FIP and FDP are stored as their low 32 bits), in a protected-mode form (offset and
/// selector) or a real-mode form (20- or 32-bit linear address and FOP). Reserved halves of the
/// 32-bit form store as 0xFFFF, as the CPU does.
extension Interpreter {
    func x87Environment(_ opcode: UInt8, reg: Int, segment: SegmentIndex, offset: UInt64, _ p: Prefixes) throws(Interruption) {
        let size16 = p.operandSize == 2
        let real = !state.pointee.isProtected || state.pointee.flag(CPUState.vm)
        let environmentSize = size16 ? 14 : 28
        switch (opcode, reg) {
        case (0xD9, 4):  // FLDENV
            try checkPendingX87Exception()
            let bytes = try readGuestBytes(segment, offset, count: environmentSize)
            loadX87Environment(bytes, size16: size16, real: real)
            state.pointee.x87.recomputeTags(from: state.pointee.x87.tag)
            state.pointee.x87.updateErrorSummary()
        case (0xD9, 5):  // FLDCW: bit 6 reads as 1, bits 15:13 as 0
            try checkPendingX87Exception()
            let value = UInt16(truncatingIfNeeded: try readSegmented(segment, offset, size: 2))
            state.pointee.x87.control = value & 0x1F3F | 0x40
            state.pointee.x87.updateErrorSummary()
        case (0xD9, 6):  // FNSTENV, then all exceptions masked
            try writeGuestBytes(segment, offset, x87EnvironmentImage(size16: size16, real: real))
            state.pointee.x87.control |= X87State.exceptionFlags
            state.pointee.x87.updateErrorSummary()
        case (0xD9, 7):  // FNSTCW
            try writeSegmented(segment, offset, size: 2, UInt64(state.pointee.x87.control))
        case (0xDD, 4):  // FRSTOR
            try checkPendingX87Exception()
            let bytes = try readGuestBytes(segment, offset, count: environmentSize + 80)
            loadX87Environment(bytes, size16: size16, real: real)
            let top = state.pointee.x87.top
            bytes.withUnsafeBytes { raw in
                for i in 0..<8 { state.pointee.x87.setRegister(physical: top + i, X87State.loadRegister(raw, at: environmentSize + 10 * i)) }
            }
            state.pointee.x87.recomputeTags(from: state.pointee.x87.tag)
            state.pointee.x87.updateErrorSummary()
        case (0xDD, 6):  // FNSAVE, then FNINIT
            var bytes = x87EnvironmentImage(size16: size16, real: real) + [UInt8](repeating: 0, count: 80)
            bytes.withUnsafeMutableBytes { raw in
                for i in 0..<8 { X87State.storeRegister(state.pointee.x87.stack(i), raw, at: environmentSize + 10 * i) }
            }
            try writeGuestBytes(segment, offset, bytes)
            state.pointee.x87.reinitialize()
        default:  // DD /7: FNSTSW m16
            try writeSegmented(segment, offset, size: 2, UInt64(state.pointee.x87.status))
        }
    }

    /// The environment as FNSTENV stores it.
    func x87EnvironmentImage(size16: Bool, real: Bool) -> [UInt8] {
        var x87 = state.pointee.x87
        x87.recomputeTags(from: x87.tag)
        var bytes = [UInt8](repeating: 0, count: size16 ? 14 : 28)
        func put(_ offset: Int, _ value: UInt64, _ size: Int) {
            for index in 0..<size { bytes[offset + index] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(index))) }
        }
        let fop = UInt64(x87.lastOpcode & 0x7FF)
        // Real mode stores linear addresses: selector * 16 + offset.
        let instruction = real ? UInt64(x87.lastInstructionSelector) << 4 &+ x87.lastInstructionPointer : x87.lastInstructionPointer
        let data = real ? UInt64(x87.lastDataSelector) << 4 &+ x87.lastDataPointer : x87.lastDataPointer
        if size16 {
            put(0, UInt64(x87.control), 2); put(2, UInt64(x87.status), 2); put(4, UInt64(x87.tag), 2)
            put(6, instruction & 0xFFFF, 2)
            put(8, real ? (instruction >> 16 & 0xF) << 12 | fop : UInt64(x87.lastInstructionSelector), 2)
            put(10, data & 0xFFFF, 2)
            put(12, real ? (data >> 16 & 0xF) << 12 : UInt64(x87.lastDataSelector), 2)
        } else {
            put(0, 0xFFFF_0000 | UInt64(x87.control), 4); put(4, 0xFFFF_0000 | UInt64(x87.status), 4); put(8, 0xFFFF_0000 | UInt64(x87.tag), 4)
            if real {
                put(12, 0xFFFF_0000 | instruction & 0xFFFF, 4)
                put(16, (instruction >> 16 & 0xFFFF) << 12 | fop, 4)
                put(20, 0xFFFF_0000 | data & 0xFFFF, 4)
                put(24, (data >> 16 & 0xFFFF) << 12, 4)
            } else {
                put(12, instruction & 0xFFFF_FFFF, 4)
                put(16, fop << 16 | UInt64(x87.lastInstructionSelector), 4)
                put(20, data & 0xFFFF_FFFF, 4)
                put(24, 0xFFFF_0000 | UInt64(x87.lastDataSelector), 4)
            }
        }
        return bytes
    }

    /// FLDENV's (and FRSTOR's) load of the environment from its image.
    func loadX87Environment(_ bytes: [UInt8], size16: Bool, real: Bool) {
        func get(_ offset: Int, _ size: Int) -> UInt64 {
            (0..<size).reduce(UInt64(0)) { $0 | UInt64(bytes[offset + $1]) << (8 * UInt64($1)) }
        }
        var x87 = state.pointee.x87
        let step = size16 ? 2 : 4
        x87.control = UInt16(get(0, 2)) & 0x1F3F | 0x40
        x87.status = UInt16(get(step, 2))
        x87.tag = UInt16(get(2 * step, 2))
        if size16 {
            if real {
                x87.lastInstructionPointer = get(6, 2) | (get(8, 2) >> 12) << 16
                x87.lastOpcode = UInt16(get(8, 2) & 0x7FF)
                x87.lastDataPointer = get(10, 2) | (get(12, 2) >> 12) << 16
                x87.lastInstructionSelector = 0
                x87.lastDataSelector = 0
            } else {
                x87.lastInstructionPointer = get(6, 2)
                x87.lastInstructionSelector = UInt16(get(8, 2))
                x87.lastDataPointer = get(10, 2)
                x87.lastDataSelector = UInt16(get(12, 2))
            }
        } else if real {
            x87.lastInstructionPointer = get(12, 2) | (get(16, 4) >> 12 & 0xFFFF) << 16
            x87.lastOpcode = UInt16(get(16, 2) & 0x7FF)
            x87.lastDataPointer = get(20, 2) | (get(24, 4) >> 12 & 0xFFFF) << 16
            x87.lastInstructionSelector = 0
            x87.lastDataSelector = 0
        } else {
            x87.lastInstructionPointer = get(12, 4)
            x87.lastInstructionSelector = UInt16(get(16, 2))
            x87.lastOpcode = UInt16(get(18, 2) & 0x7FF)
            x87.lastDataPointer = get(20, 4)
            x87.lastDataSelector = UInt16(get(24, 2))
        }
        state.pointee.x87 = x87
    }

    // MARK: - Operands of more than 8 bytes

    /// A data instruction's memory operand (2, 4, 8 or 10 bytes) into the host's operand buffer.
    func readX87Operand(_ segment: SegmentIndex, _ offset: UInt64, size: Int) throws(Interruption) -> (UInt64, UInt64) {
        let bytes = try readGuestBytes(segment, offset, count: size)
        var buffer: (UInt64, UInt64) = (0, 0)
        withUnsafeMutableBytes(of: &buffer) { $0.copyBytes(from: bytes) }
        return buffer
    }

    func writeX87Operand(_ segment: SegmentIndex, _ offset: UInt64, size: Int, _ buffer: (UInt64, UInt64)) throws(Interruption) {
        let bytes = withUnsafeBytes(of: buffer) { Array($0.prefix(size)) }
        try writeGuestBytes(segment, offset, bytes)
    }

    /// Reads `count` bytes with one segment check for the whole operand.
    func readGuestBytes(_ segment: SegmentIndex, _ offset: UInt64, count: Int) throws(Interruption) -> [UInt8] {
        let linear = try operandLinearAddress(segment, offset, count: count)
        var bytes: [UInt8] = []
        bytes.reserveCapacity(count)
        var index = 0
        while index < count {
            let chunk = Self.accessChunk(count - index)
            let value = try readLinear(linear &+ UInt64(index), size: chunk)
            for byte in 0..<chunk { bytes.append(UInt8(truncatingIfNeeded: value >> (8 * UInt64(byte)))) }
            index += chunk
        }
        return bytes
    }

    /// Writes `bytes` after checking every page they touch for writing, so a fault leaves memory
    /// as it was (the CPU checks the whole operand before it stores).
    func writeGuestBytes(_ segment: SegmentIndex, _ offset: UInt64, _ bytes: [UInt8]) throws(Interruption) {
        let linear = try operandLinearAddress(segment, offset, count: bytes.count)
        var page = linear & ~0xFFF
        while page <= (linear &+ UInt64(bytes.count - 1)) & ~0xFFF {
            _ = try translate(max(page, linear), write: true, fetch: false, user: state.pointee.cpl == 3)
            page &+= 0x1000
        }
        var index = 0
        while index < bytes.count {
            let chunk = Self.accessChunk(bytes.count - index)
            let value = (0..<chunk).reduce(UInt64(0)) { $0 | UInt64(bytes[index + $1]) << (8 * UInt64($1)) }
            try writeLinear(linear &+ UInt64(index), size: chunk, value)
            index += chunk
        }
    }

    /// The linear address of an operand of `count` bytes: the segment limit covers all of it,
    /// and in 64-bit mode its last byte must be canonical too.
    private func operandLinearAddress(_ segment: SegmentIndex, _ offset: UInt64, count: Int) throws(Interruption) -> UInt64 {
        let linear = try linearAddress(segment, offset, size: count)
        if state.pointee.is64BitMode { _ = try linearAddress(segment, offset &+ UInt64(count - 1), size: 1) }
        return linear
    }

    private static func accessChunk(_ remaining: Int) -> Int { remaining >= 8 ? 8 : remaining >= 4 ? 4 : remaining >= 2 ? 2 : 1 }
}
