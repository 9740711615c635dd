import CSSE
import VMCore

/// The XMM and MMX registers, the memory operands of SSE instructions, and the CR0/CR4 checks
/// that gate them (SDM vol. 3, 13.1 and table 2-21 of vol. 2; AMD APM vol. 2, 11.3).
extension Interpreter {
    static let deviceNotAvailable: UInt8 = 7, floatingPointError: UInt8 = 16, simdException: UInt8 = 19
    static let cr0MonitorCoprocessor: UInt64 = 1 << 1, cr0Emulation: UInt64 = 1 << 2, cr0TaskSwitched: UInt64 = 1 << 3
    static let cr0NumericError: UInt64 = 1 << 5
    static let cr4OSFXSR: UInt64 = 1 << 9, cr4OSXMMEXCPT: UInt64 = 1 << 10

    // MARK: - Registers

    @inline(__always)
    func xmm(_ index: Int) -> csse_xmm {
        let base = xmmStorage + (index & 15) &* 2
        return csse_xmm(low: base[0], high: base[1])
    }

    @inline(__always)
    func setXMM(_ index: Int, _ value: csse_xmm) {
        let base = xmmStorage + (index & 15) &* 2
        base[0] = value.low
        base[1] = value.high
    }

    /// MMi is the significand of physical x87 register Ri.
    func mmx(_ index: Int) -> UInt64 {
        x87Storage.load(fromByteOffset: (index & 7) &* MemoryLayout<X87Register>.stride, as: UInt64.self)
    }

    /// An MMX write also sets the register's sign and exponent to all ones (SDM vol. 1, 9.5.1).
    func setMMX(_ index: Int, _ value: UInt64) {
        let offset = (index & 7) &* MemoryLayout<X87Register>.stride
        x87Storage.storeBytes(of: value, toByteOffset: offset, as: UInt64.self)
        x87Storage.storeBytes(of: UInt16(0xFFFF), toByteOffset: offset + MemoryLayout<X87Register>.offset(of: \.signExponent)!, as: UInt16.self)
    }

    var mxcsr: UInt32 {
        get { state.pointee.sse.mxcsr }
        nonmutating set { state.pointee.sse.mxcsr = newValue }
    }

    // MARK: - Gating

    /// SSE and SSE2 instructions: #UD with CR0.EM set or CR4.OSFXSR clear, then #NM with CR0.TS.
    func requireSSE() throws(Interruption) {
        let s = state.pointee
        if s.cr0 & Self.cr0Emulation != 0 || s.cr4 & Self.cr4OSFXSR == 0 { throw .fault(.ud) }
        if s.cr0 & Self.cr0TaskSwitched != 0 { throw .fault(Fault(vector: Self.deviceNotAvailable, errorCode: nil)) }
    }

    /// MMX instructions (and the SSE ones with an MMX register operand): #UD with CR0.EM, #NM with
    /// CR0.TS, #MF for a pending unmasked x87 exception (FSW.ES, with CR0.NE), then the switch
    /// to MMX mode: TOP = 0 and every register tagged valid (SDM vol. 1, 9.5.1).
    func enterMMXMode() throws(Interruption) {
        let s = state.pointee
        if s.cr0 & Self.cr0Emulation != 0 { throw .fault(.ud) }
        if s.cr0 & Self.cr0TaskSwitched != 0 { throw .fault(Fault(vector: Self.deviceNotAvailable, errorCode: nil)) }
        if s.x87.status & 0x80 != 0 && s.cr0 & Self.cr0NumericError != 0 {
            throw .fault(Fault(vector: Self.floatingPointError, errorCode: nil))
        }
        state.pointee.x87.status &= ~0x3800
        state.pointee.x87.tag = 0
    }

    // MARK: - Memory operands

    /// The linear address of a `size`-byte SSE operand; `aligned` operands must be on a
    /// `size`-byte boundary (#GP(0) otherwise: MOVAPS, MOVDQA and every 128-bit legacy-SSE
    /// operand but MOVUPS/MOVUPD/MOVDQU/MASKMOVDQU).
    func mediaAddress(_ segment: SegmentIndex, _ offset: UInt64, size: Int, aligned: Bool) throws(Interruption) -> UInt64 {
        let linear = try linearAddress(segment, offset, size: size)
        if aligned && linear & UInt64(size &- 1) != 0 { throw .fault(.gp()) }
        return linear
    }

    /// The linear address `distance` bytes on, wrapping at 4 GiB outside 64-bit mode.
    func advanced(_ linear: UInt64, by distance: UInt64) -> UInt64 {
        state.pointee.isLongModeActive ? linear &+ distance : (linear &+ distance) & 0xFFFF_FFFF
    }

    /// Reads 4, 8 or 16 bytes zero-extended to 128 bits.
    func loadMedia(_ segment: SegmentIndex, _ offset: UInt64, size: Int, aligned: Bool) throws(Interruption) -> csse_xmm {
        let linear = try mediaAddress(segment, offset, size: size, aligned: aligned)
        if size <= 8 { return csse_xmm(low: try readLinear(linear, size: size), high: 0) }
        return csse_xmm(low: try readLinear(linear, size: 8), high: try readLinear(advanced(linear, by: 8), size: 8))
    }

    /// Writes the low 4, 8 or 16 bytes of `value`; a 16-byte store that crosses a page checks
    /// both pages first, so a fault leaves memory untouched.
    func storeMedia(_ segment: SegmentIndex, _ offset: UInt64, size: Int, aligned: Bool, _ value: csse_xmm) throws(Interruption) {
        let linear = try mediaAddress(segment, offset, size: size, aligned: aligned)
        if size <= 8 { return try writeLinear(linear, size: size, value.low) }
        try probeWrite(linear, count: 16)
        try writeLinear(linear, size: 8, value.low)
        try writeLinear(advanced(linear, by: 8), size: 8, value.high)
    }

    /// Translates the first and last byte of a write of `count` (at most 4096) bytes, so that a
    /// page fault comes before any byte is written.
    func probeWrite(_ linear: UInt64, count: Int) throws(Interruption) {
        let last = advanced(linear, by: UInt64(count &- 1))
        guard linear >> 12 != last >> 12 else { return }
        _ = try translate(linear, write: true, fetch: false, user: state.pointee.cpl == 3)
        _ = try translate(last, write: true, fetch: false, user: state.pointee.cpl == 3)
    }

    /// The XMM source operand: a register, or `size` bytes of memory zero-extended.
    func xmmSource(_ m: ModRM, size: Int, aligned: Bool) throws(Interruption) -> csse_xmm {
        switch m.operand {
        case .register(let index): return xmm(index)
        case .memory(let segment, let offset): return try loadMedia(segment, offset, size: size, aligned: aligned)
        }
    }

    /// The MMX source operand: a register (REX.B does not apply) or 8 bytes of memory.
    func mmxSource(_ m: ModRM) throws(Interruption) -> UInt64 {
        switch m.operand {
        case .register: return mmx(Int(m.rm))
        case .memory(let segment, let offset): return try loadMedia(segment, offset, size: 8, aligned: false).low
        }
    }

    /// Stores to the XMM or memory destination of a store form (MOVAPS m, xmm...).
    func writeXMMDestination(_ m: ModRM, size: Int, aligned: Bool, _ value: csse_xmm) throws(Interruption) {
        switch m.operand {
        case .register(let index): setXMM(index, value)
        case .memory(let segment, let offset): try storeMedia(segment, offset, size: size, aligned: aligned, value)
        }
    }

    /// A memory operand only (the register form is #UD: MOVLPS m64, MOVNTDQ...).
    func memoryOperand(_ m: ModRM) throws(Interruption) -> (SegmentIndex, UInt64) {
        guard case .memory(let segment, let offset) = m.operand else { throw .fault(.ud) }
        return (segment, offset)
    }
}
