import CSSE
import VMCore

/// Group 15 (0F AE): FXSAVE/FXRSTOR, LDMXCSR/STMXCSR, the fences and CLFLUSH.
extension Interpreter {
    func group15(_ i: inout Instruction) throws(Interruption) {
        let p = i.prefixes
        let m = try decodeModRM(&i)
        let operation = m.reg & 7
        guard case .memory(let segment, let offset) = m.operand else {
            // LFENCE, MFENCE, SFENCE: accesses are already in order here. (With F3 these are
            // RDFSBASE and friends, which CPUID does not advertise.)
            guard operation >= 5 && p.rep == 0 else { throw .fault(.ud) }
            return
        }
        guard p.rep == 0 && !(p.hasOperandSizePrefix && operation >= 6) else { throw .fault(.ud) }  // CLWB, CLFLUSHOPT
        switch operation {
        case 0, 1:
            // #NM for CR0.TS or CR0.EM (FXSAVE's table in SDM vol. 2), then 16-byte alignment.
            let cr0 = state.pointee.cr0
            if cr0 & (Self.cr0TaskSwitched | Self.cr0Emulation) != 0 { throw .fault(Fault(vector: Self.deviceNotAvailable, errorCode: nil)) }
            let linear = try mediaAddress(segment, offset, size: 512, aligned: false)
            if linear & 15 != 0 { throw .fault(.gp()) }
            if operation == 0 { try fxsave(at: linear, wide: p.rexW) } else { try fxrstor(from: linear, wide: p.rexW) }
        case 2:  // LDMXCSR
            try requireSSE()
            let value = UInt32(try readSegmented(segment, offset, size: 4))
            if value & ~SSEState.mxcsrMask != 0 { throw .fault(.gp()) }
            mxcsr = value
        case 3:  // STMXCSR
            try requireSSE()
            try writeSegmented(segment, offset, size: 4, UInt64(mxcsr))
        case 7:  // CLFLUSH: no caches; the access rights are checked as for a byte read
            _ = try readSegmented(segment, offset, size: 1)
        default:  // XSAVE, XRSTOR, XSAVEOPT: XSAVE is not advertised
            throw .fault(.ud)
        }
    }

    /// The 512-byte FXSAVE image (SDM vol. 1, tables 10-2 and 10-3; AMD APM vol. 5, FXSAVE).
    /// As on AMD CPUs, the x87 instruction and data pointers and the opcode are stored only while
    /// an unmasked exception is pending (FSW.ES), zeros otherwise. Without CR4.OSFXSR, MXCSR and
    /// the XMM registers are not saved (AMD); outside 64-bit mode only XMM0-7 are. Bytes 288 (or
    /// 416) to 511 are left alone.
    func fxsave(at linear: UInt64, wide: Bool) throws(Interruption) {
        let s = state.pointee
        try probeWrite(linear, count: 512)
        var header = [UInt8](repeating: 0, count: 32)
        func put(_ value: UInt64, at offset: Int, size: Int) {
            for index in 0..<size { header[offset + index] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(index))) }
        }
        put(UInt64(s.x87.control), at: 0, size: 2)
        put(UInt64(s.x87.status), at: 2, size: 2)
        put(UInt64(abridgedTag(s.x87.tag)), at: 4, size: 1)
        if s.x87.status & 0x80 != 0 {
            put(UInt64(s.x87.lastOpcode & 0x7FF), at: 6, size: 2)
            if wide {
                put(s.x87.lastInstructionPointer, at: 8, size: 8)
                put(s.x87.lastDataPointer, at: 16, size: 8)
            } else {
                put(s.x87.lastInstructionPointer, at: 8, size: 4)
                put(UInt64(s.x87.lastInstructionSelector), at: 12, size: 2)
                put(s.x87.lastDataPointer, at: 16, size: 4)
                put(UInt64(s.x87.lastDataSelector), at: 20, size: 2)
            }
        }
        let saveSSE = s.cr4 & Self.cr4OSFXSR != 0
        put(UInt64(s.sse.mxcsr), at: 24, size: 4)
        put(UInt64(SSEState.mxcsrMask), at: 28, size: 4)
        for index in stride(from: 0, to: saveSSE ? 32 : 24, by: 8) {
            try writeLinear(
                advanced(linear, by: UInt64(index)), size: 8, header.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: index, as: UInt64.self) })
        }
        let top = Int(s.x87.status >> 11) & 7
        for slot in 0..<8 {
            let physical = (top + slot) & 7
            let offset = physical * MemoryLayout<X87Register>.stride
            let significand = x87Storage.load(fromByteOffset: offset, as: UInt64.self)
            let signExponent = x87Storage.load(fromByteOffset: offset + 8, as: UInt16.self)
            let address = advanced(linear, by: UInt64(32 + 16 * slot))
            try writeLinear(address, size: 8, significand)
            try writeLinear(advanced(address, by: 8), size: 8, UInt64(signExponent))
        }
        guard saveSSE else { return }
        for index in 0..<(s.isLongModeActive && s.segments.1.long ? 16 : 8) {
            let value = xmm(index)
            let address = advanced(linear, by: UInt64(160 + 16 * index))
            try writeLinear(address, size: 8, value.low)
            try writeLinear(advanced(address, by: 8), size: 8, value.high)
        }
    }

    /// FXRSTOR: everything is read before anything changes, so a fault (or #GP for reserved
    /// MXCSR bits) leaves the state as it was. The full tag word is rebuilt from the abridged one
    /// and the register contents; FSW.ES and B are recomputed from the flags and masks, as the
    /// CPU does.
    func fxrstor(from linear: UInt64, wide: Bool) throws(Interruption) {
        let s = state.pointee
        func load(_ offset: Int, _ size: Int) throws(Interruption) -> UInt64 { try readLinear(advanced(linear, by: UInt64(offset)), size: size) }
        let restoreSSE = s.cr4 & Self.cr4OSFXSR != 0
        let newMXCSR = restoreSSE ? UInt32(try load(24, 4)) : s.sse.mxcsr
        if newMXCSR & ~SSEState.mxcsrMask != 0 { throw .fault(.gp()) }
        let control = UInt16(try load(0, 2)), status = UInt16(try load(2, 2)), abridged = UInt8(try load(4, 1))
        let opcode = UInt16(try load(6, 2)) & 0x7FF
        let instructionPointer = try load(8, wide ? 8 : 4), dataPointer = try load(16, wide ? 8 : 4)
        let instructionSelector = wide ? s.x87.lastInstructionSelector : UInt16(try load(12, 2))
        let dataSelector = wide ? s.x87.lastDataSelector : UInt16(try load(20, 2))
        var registers: [(UInt64, UInt16)] = []
        for slot in 0..<8 { registers.append((try load(32 + 16 * slot, 8), UInt16(try load(40 + 16 * slot, 2)))) }
        var xmmValues: [csse_xmm] = []
        if restoreSSE {
            for index in 0..<(s.isLongModeActive && s.segments.1.long ? 16 : 8) {
                xmmValues.append(csse_xmm(low: try load(160 + 16 * index, 8), high: try load(168 + 16 * index, 8)))
            }
        }
        let pending = (status & 0x3F) & ~(control & 0x3F) != 0
        state.pointee.x87.control = control
        state.pointee.x87.status = status & 0x7F7F | (pending ? 0x8080 : 0)
        state.pointee.x87.lastOpcode = opcode
        state.pointee.x87.lastInstructionPointer = instructionPointer
        state.pointee.x87.lastDataPointer = dataPointer
        state.pointee.x87.lastInstructionSelector = instructionSelector
        state.pointee.x87.lastDataSelector = dataSelector
        let top = Int(status >> 11) & 7
        var tag: UInt16 = 0
        for slot in 0..<8 {
            let physical = (top + slot) & 7
            let offset = physical * MemoryLayout<X87Register>.stride
            x87Storage.storeBytes(of: registers[slot].0, toByteOffset: offset, as: UInt64.self)
            x87Storage.storeBytes(of: registers[slot].1, toByteOffset: offset + 8, as: UInt16.self)
        }
        for physical in 0..<8 {
            let offset = physical * MemoryLayout<X87Register>.stride
            let value = X87Register(
                significand: x87Storage.load(fromByteOffset: offset, as: UInt64.self),
                signExponent: x87Storage.load(fromByteOffset: offset + 8, as: UInt16.self))
            let bits: UInt16 = abridged & (1 << physical) == 0 ? 3 : Self.fullTag(value)
            tag |= bits << (2 * UInt16(physical))
        }
        state.pointee.x87.tag = tag
        if restoreSSE {
            mxcsr = newMXCSR
            for (index, value) in xmmValues.enumerated() { setXMM(index, value) }
        }
    }

    /// One bit per physical register: 1 unless its tag is empty (11).
    func abridgedTag(_ tag: UInt16) -> UInt8 {
        var result: UInt8 = 0
        for physical in 0..<8 where (tag >> (2 * UInt16(physical))) & 3 != 3 { result |= 1 << physical }
        return result
    }

    /// The tag of a non-empty register from its contents: 00 valid, 01 zero, 10 special (NaN,
    /// infinity, denormal, unnormal).
    static func fullTag(_ register: X87Register) -> UInt16 {
        let exponent = register.signExponent & 0x7FFF
        if exponent == 0x7FFF { return 2 }
        if exponent == 0 { return register.significand == 0 ? 1 : 2 }
        return register.significand >> 63 == 0 ? 2 : 0
    }
}
