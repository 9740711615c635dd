import CSSE
import VMCore

/// Executing the decoded SSE instructions (FastDecoder+SSE.swift) with the byte interpreter's
/// semantics: the same gating, alignment checks, host instructions and MXCSR handling.
extension Interpreter {
    @inline(never)
    func executeMedia(_ d: UnsafePointer<DecodedInstruction>, rip: UInt64, mode: ChainMode) throws(Interruption) -> UInt64 {
        let next = rip &+ UInt64(d.pointee.length)
        let reg = Int(d.pointee.reg), rm = Int(d.pointee.rm)
        let memory = d.pointee.isMemory
        if d.pointee.operation != .bitScan { try requireSSE() }
        switch d.pointee.operation {
        case .mediaMove:
            let aligned = d.pointee.immediate != 0
            if d.pointee.subop == 0 {
                setXMM(reg, memory ? try loadDecoded(d, next: next, mode: mode, size: 16, aligned: aligned) : xmm(rm))
            } else if memory {
                let linear = try linearOperand(d, next: next, size: 16, mode: mode)
                if aligned && linear & 15 != 0 { throw .fault(.gp()) }
                // A store across a page checks both pages first: the byte interpreter does that.
                if linear & 0xFFF > 0xFF0 { return try slowStep(rip) }
                let value = xmm(reg)
                try writeLinear(linear, size: 8, user: mode.user, value.low)
                try writeLinear(linear &+ 8, size: 8, user: mode.user, value.high)
            } else {
                setXMM(rm, xmm(reg))
            }
        case .scalarMove:
            let size = Int(d.pointee.size)
            if d.pointee.subop == 0 {
                setXMM(reg, memory ? try loadDecoded(d, next: next, mode: mode, size: size, aligned: false) : mergeLow(xmm(reg), xmm(rm), size: size))
            } else if memory {
                try writeLinear(try linearOperand(d, next: next, size: size, mode: mode), size: size, user: mode.user, xmm(reg).low)
            } else {
                setXMM(rm, mergeLow(xmm(rm), xmm(reg), size: size))
            }
        case .mediaBinary:
            let size = Int(d.pointee.subop)
            let source = memory ? try loadDecoded(d, next: next, mode: mode, size: size, aligned: size == 16) : xmm(rm)
            setXMM(reg, try hostOperation(csse_binary_op(rawValue: UInt32(truncatingIfNeeded: d.pointee.immediate)), xmm(reg), source))
        case .moveMaskBytes:
            let value = xmm(rm)
            gpr[reg] = UInt64(byteSignMask(value.low)) | UInt64(byteSignMask(value.high)) << 8
        case .compareScalarFlags:
            let size = Int(d.pointee.subop)
            let source = memory ? try loadDecoded(d, next: next, mode: mode, size: size, aligned: false) : xmm(rm)
            try commitSIMDFlags(csse_compare_flags(Int32(d.pointee.immediate), xmm(reg), source, mxcsr, hostValue))
            state.pointee.rflags = state.pointee.rflags & ~CPUState.arithmeticFlags | hostValue.pointee & (CPUState.zf | CPUState.pf | CPUState.cf)
        case .convertToFloat:
            let size = Int(d.pointee.size)
            let value = try readOperand(d, size: size, next: next, mode: mode)
            hostResult.pointee = xmm(reg)
            try commitSIMDFlags(csse_from_integer(Int32(d.pointee.immediate), size == 8 ? 1 : 0, hostResult, value, mxcsr))
            setXMM(reg, hostResult.pointee)
        case .convertToInteger:
            let sourceSize = Int(d.pointee.subop), size = Int(d.pointee.size)
            let source = memory ? try loadDecoded(d, next: next, mode: mode, size: sourceSize, aligned: false) : xmm(rm)
            try commitSIMDFlags(csse_to_integer(Int32(d.pointee.immediate), size == 8 ? 1 : 0, source, mxcsr, hostValue))
            writeRegister(reg, size: size, rex: true, hostValue.pointee)
        case .moveToXMM:
            let size = Int(d.pointee.size)
            setXMM(reg, csse_xmm(low: try readOperand(d, size: size, next: next, mode: mode) & mask(size), high: 0))
        case .moveFromXMM:
            let size = Int(d.pointee.size)
            if memory {
                try writeLinear(try linearOperand(d, next: next, size: size, mode: mode), size: size, user: mode.user, xmm(reg).low)
            } else {
                writeRegister(rm, size: size, rex: true, xmm(reg).low)
            }
        case .moveQuadword:
            if d.pointee.subop == 0 {
                setXMM(reg, csse_xmm(low: memory ? try loadDecoded(d, next: next, mode: mode, size: 8, aligned: false).low : xmm(rm).low, high: 0))
            } else if memory {
                try writeLinear(try linearOperand(d, next: next, size: 8, mode: mode), size: 8, user: mode.user, xmm(reg).low)
            } else {
                setXMM(rm, csse_xmm(low: xmm(reg).low, high: 0))
            }
        case .shuffleDwords:
            let source = memory ? try loadDecoded(d, next: next, mode: mode, size: 16, aligned: true) : xmm(rm)
            let order = d.pointee.immediate
            setXMM(reg, fromDwords(lane(source, order), lane(source, order >> 2), lane(source, order >> 4), lane(source, order >> 6)))
        case .bitScan:
            let size = Int(d.pointee.size)
            let value = try readOperand(d, size: size, next: next, mode: mode) & mask(size)
            // As the byte interpreter: ZF=1 and the destination unchanged for a zero source.
            state.pointee.rflags = state.pointee.rflags & ~CPUState.arithmeticFlags | (value == 0 ? CPUState.zf : 0)
            if value != 0 {
                writeRegister(reg, size: size, rex: true, UInt64(d.pointee.subop == 0 ? value.trailingZeroBitCount : 63 - value.leadingZeroBitCount))
            }
        default:
            break
        }
        return next
    }

    /// A memory operand of 4, 8 or 16 bytes, zero-extended; 16-byte `aligned` ones checked.
    @_transparent
    func loadDecoded(_ d: UnsafePointer<DecodedInstruction>, next: UInt64, mode: ChainMode, size: Int, aligned: Bool) throws(Interruption) -> csse_xmm
    {
        let linear = try linearOperand(d, next: next, size: size, mode: mode)
        if size <= 8 { return csse_xmm(low: try readLinear(linear, size: size, user: mode.user), high: 0) }
        if aligned && linear & 15 != 0 { throw .fault(.gp()) }
        return csse_xmm(low: try readLinear(linear, size: 8, user: mode.user), high: try readLinear(linear &+ 8, size: 8, user: mode.user))
    }

    /// Dword `selector & 3` of `value` (no array: this runs from blocks).
    @_transparent
    func lane(_ value: csse_xmm, _ selector: UInt64) -> UInt32 {
        UInt32(truncatingIfNeeded: (selector & 2 == 0 ? value.low : value.high) >> ((selector & 1) * 32))
    }

    /// The instruction at `rip` on the byte interpreter (the cases this path leaves to it).
    func slowStep(_ rip: UInt64) throws(Interruption) -> UInt64 {
        state.pointee.rip = rip
        try step()
        return state.pointee.rip
    }
}
