import VMCore

/// Far JMP and CALL (SDM vol. 2, CALL and JMP "Operation"; vol. 3, 5.8): directly to a code
/// segment, or through a call gate (16- and 32-bit gates outside long mode, 64-bit gates in long
/// mode) to the same level or, for CALL, to a more privileged one with the stack from the TSS and
/// the gate's parameters copied. A TSS or task-gate target (a hardware task switch) is not
/// implemented: #GP(selector).
extension Interpreter {
    /// Transfers to `selector:offset`; a CALL pushes CS and `returnAddress` (`size` bytes each for
    /// a direct transfer; a gate's own size through a gate). Returns the new RIP.
    func farTransfer(to selector: UInt16, offset: UInt64, call: Bool, size: Int, returnAddress: UInt64) throws(Interruption) -> UInt64 {
        let s = state.pointee
        if s.isProtected && s.storedFlags & CPUState.vm == 0 && selector & ~3 != 0 {
            let descriptor = try readDescriptor(selector)
            if descriptor >> 44 & 1 == 0 {
                return try transferThroughGate(selector, descriptor, call: call, returnAddress: returnAddress)
            }
        }
        if call {
            try push(UInt64(s.segments.1.selector), size: size)
            try push(returnAddress, size: size)
        }
        try loadCodeSegment(selector)
        return offset
    }

    private func transferThroughGate(_ gateSelector: UInt16, _ gate: UInt64, call: Bool, returnAddress: UInt64) throws(Interruption)
        -> UInt64
    {
        let s = state.pointee
        let long = s.isLongModeActive
        let type = gate >> 40 & 0xF
        guard long ? type == 0xC : type == 0xC || type == 0x4 else { throw .fault(.gp(Self.selectorError(gateSelector))) }
        let cpl = s.cpl
        let gateDPL = UInt8(gate >> 45 & 3)
        guard gateDPL >= cpl && gateDPL >= UInt8(gateSelector & 3) else { throw .fault(.gp(Self.selectorError(gateSelector))) }
        guard gate >> 47 & 1 != 0 else { throw .fault(Fault(vector: Fault.segmentNotPresent, errorCode: Self.selectorError(gateSelector))) }
        var target = gate & 0xFFFF | (gate >> 48 & 0xFFFF) << 16
        if long {
            // A 64-bit gate is 16 bytes; the upper half's type field must be 0.
            let high = try readSystem(descriptorAddress(gateSelector) &+ 8, size: 8)
            guard high >> 40 & 0x1F == 0 else { throw .fault(.gp(Self.selectorError(gateSelector))) }
            target |= (high & 0xFFFF_FFFF) << 32
        }
        let gateSize = long ? 8 : (type == 0xC ? 4 : 2)
        if gateSize == 2 { target &= 0xFFFF }

        let codeSelector = UInt16(gate >> 16 & 0xFFFF)
        guard codeSelector & ~3 != 0 else { throw .fault(.gp(0)) }
        let codeError = Self.selectorError(codeSelector)
        let descriptor = try readDescriptor(codeSelector)
        var code = Self.segment(fromDescriptor: descriptor, selector: codeSelector)
        guard code.isCodeOrData && code.type & 8 != 0 && code.dpl <= cpl else { throw .fault(.gp(codeError)) }
        if long && !(code.long && !code.defaultSize32) { throw .fault(.gp(codeError)) }  // 64-bit code only
        let conforming = code.type & 4 != 0
        if !call && !conforming && code.dpl != cpl { throw .fault(.gp(codeError)) }  // JMP never changes level
        guard code.present else { throw .fault(Fault(vector: Fault.segmentNotPresent, errorCode: codeError)) }
        if long && !isCanonical(target) { throw .fault(.gp()) }
        try markAccessed(codeSelector, descriptor)
        let newCPL = conforming ? cpl : code.dpl
        code.type |= 1
        code.dpl = newCPL
        code.selector = codeSelector & ~3 | UInt16(newCPL)
        let oldCS = s.segments.1, oldSS = s.segments.2, oldSP = gpr[4]
        do {
            if call && newCPL < cpl {
                try switchStackForCall(gate, to: code, gateSize: gateSize)
            } else {
                state.pointee.setSegment(.cs, code)
                if call { try push(UInt64(oldCS.selector), size: gateSize) }
            }
            if call { try push(returnAddress, size: gateSize) }
        } catch let error {
            state.pointee.segments.1 = oldCS
            state.pointee.segments.2 = oldSS
            gpr[4] = oldSP
            throw error
        }
        return target
    }

    /// CALL through a gate to an inner level: the new stack from the TSS (#TS if its SS is bad),
    /// the caller's SS and rSP pushed on it, then (outside long mode) the gate's parameter count
    /// of words or doublewords copied from the caller's stack, then the caller's CS.
    private func switchStackForCall(_ gate: UInt64, to code: Segment, gateSize: Int) throws(Interruption) {
        let s = state.pointee
        let newCPL = code.dpl
        let oldSS = UInt64(s.segments.2.selector), oldSP = gpr[4], oldCS = UInt64(s.segments.1.selector)
        if s.isLongModeActive {
            let rsp = try readSystem(s.tr.base &+ 4 &+ UInt64(newCPL) * 8, size: 8)
            state.pointee.setSegment(.cs, code)
            var nullSS = Segment()
            nullSS.selector = UInt16(newCPL)
            nullSS.unusable = true
            nullSS.dpl = newCPL
            state.pointee.setSegment(.ss, nullSS)
            gpr[4] = rsp
            for value in [oldSS, oldSP, oldCS] { try push(value, size: 8) }
            return
        }
        // The caller's parameters, read before the stacks change.
        let count = Int(gate >> 32 & 0x1F)
        let oldStackMask = mask(stackAddressSize)
        var parameters = InlineArray<32, UInt64>(repeating: 0)
        for index in 0..<count {
            parameters[index] = try readSegmented(.ss, (oldSP &+ UInt64(index * gateSize)) & oldStackMask, size: gateSize)
        }
        let tss32 = s.tr.type & 8 != 0
        let newSP =
            tss32
            ? try readSystem(s.tr.base &+ 4 &+ UInt64(newCPL) * 8, size: 4) : try readSystem(s.tr.base &+ 2 &+ UInt64(newCPL) * 4, size: 2)
        let newSS = UInt16(try readSystem(s.tr.base &+ (tss32 ? 8 &+ UInt64(newCPL) * 8 : 4 &+ UInt64(newCPL) * 4), size: 2))
        state.pointee.setSegment(.cs, code)  // the SS checks compare with the new CPL
        guard newSS & ~3 != 0 else { throw .fault(Fault(vector: Fault.invalidTSS, errorCode: 0)) }
        do {
            try loadSegment(.ss, newSS)
        } catch let error {
            guard case .fault(let fault) = error, fault.vector == Fault.generalProtection else { throw error }
            throw .fault(Fault(vector: Fault.invalidTSS, errorCode: Self.selectorError(newSS)))
        }
        gpr[4] = newSP
        try push(oldSS, size: gateSize)
        try push(oldSP, size: gateSize)
        for index in stride(from: count - 1, through: 0, by: -1) { try push(parameters[index], size: gateSize) }
        try push(oldCS, size: gateSize)
    }
}
