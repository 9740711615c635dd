import VMCore

/// Delivering exceptions and interrupts through the IVT (real mode) or IDT (SDM vol. 3, 6.12).
extension Interpreter {
    /// Delivers `fault` with the double-fault and triple-fault rules: a contributory exception
    /// (or #PF) while delivering another escalates to #DF, and any fault while delivering #DF
    /// shuts the machine down.
    func raise(_ fault: Fault, returnAddress: UInt64, external: Bool = false) throws(Interruption) {
        var current = fault
        // Faults push RFLAGS with RF set, so that IRET re-runs the instruction without hitting
        // its instruction breakpoint again (SDM vol. 3, 17.3.1.1); traps, aborts, interrupts and
        // #DB itself (an instruction breakpoint's handler sets RF) push it as it is.
        if !external && Fault.isFaultClass(fault.vector) { state.pointee.rflags |= CPUState.rf }
        // A delivery that faults part-way leaves no trace: the next attempt (the second exception,
        // or #DF) starts from the interrupted state, as the CPU's does.
        let interrupted = (stackPointer: gpr[4], cs: state.pointee.segments.1, ss: state.pointee.segments.2, flags: state.pointee.rflags)
        while true {
            do {
                try deliver(vector: current.vector, errorCode: current.errorCode, returnAddress: returnAddress, software: false)
                return
            } catch .stop(let reason) {
                throw .stop(reason)
            } catch .fault(let next) {
                gpr[4] = interrupted.stackPointer
                state.pointee.segments.1 = interrupted.cs
                state.pointee.segments.2 = interrupted.ss
                state.pointee.rflags = interrupted.flags
                if current.vector == Fault.doubleFault { throw .stop(.shutdown) }
                let escalate =
                    (Fault.isContributory(current.vector) && Fault.isContributory(next.vector))
                    || (current.vector == Fault.pageFault && (Fault.isContributory(next.vector) || next.vector == Fault.pageFault))
                current = escalate ? Fault(vector: Fault.doubleFault, errorCode: 0) : next
            }
        }
    }

    /// `error` with EXT set in its error code, when it is a fault with a selector error code.
    static func addingEXT(_ ext: UInt32, to error: Interruption) -> Interruption {
        guard case .fault(var fault) = error, let code = fault.errorCode, fault.vector != Fault.pageFault else { return error }
        fault.errorCode = code | ext
        return .fault(fault)
    }

    /// Pushes the interrupted state and enters the handler for `vector`. `software` marks INT n,
    /// whose gate DPL is checked against CPL.
    func deliver(vector: UInt8, errorCode: UInt32?, returnAddress: UInt64, software: Bool) throws(Interruption) {
        if software { state.pointee.softwareInterruptDelivered = true }
        let s = state.pointee
        let idtError = UInt32(vector) * 8 + 2 + (software ? 0 : 1)
        if !s.isProtected {
            let entry = UInt64(vector) * 4
            guard entry + 3 <= UInt64(s.idt.limit) else { throw .fault(.gp(idtError)) }
            let vectorAddress = try readSystem(s.idt.base &+ entry, size: 4)
            try push(s.rflags & 0xFFFF, size: 2)
            try push(UInt64(s.segment(.cs).selector), size: 2)
            try push(returnAddress & 0xFFFF, size: 2)
            state.pointee.rflags &= ~(CPUState.ifl | CPUState.tf | CPUState.ac | CPUState.rf)
            try loadCodeSegment(UInt16(truncatingIfNeeded: vectorAddress >> 16))
            state.pointee.rip = vectorAddress & 0xFFFF
            return
        }
        let long = s.isLongModeActive
        let gateSize: UInt64 = long ? 16 : 8
        let entry = UInt64(vector) * gateSize
        guard entry + gateSize - 1 <= UInt64(s.idt.limit) else { throw .fault(.gp(idtError)) }
        let low = try readSystem(s.idt.base &+ entry, size: 8)
        let high = long ? try readSystem(s.idt.base &+ entry &+ 8, size: 8) : 0
        let type = (low >> 40) & 0xF
        let gateDPL = UInt8((low >> 45) & 3)
        // The SDM's order (INT n, "Operation"): gate type, then DPL for software interrupts, then
        // presence; so an all-zero entry is #GP, not #NP.
        let isInterruptGate: Bool
        switch (long, type) {
        case (true, 0xE), (false, 0xE), (false, 0x6): isInterruptGate = true
        case (true, 0xF), (false, 0xF), (false, 0x7): isInterruptGate = false
        default: throw .fault(.gp(idtError))  // task gates and reserved types are not supported
        }
        if software && s.cpl > gateDPL { throw .fault(.gp(idtError)) }
        guard (low >> 47) & 1 != 0 else { throw .fault(Fault(vector: 11, errorCode: idtError)) }
        let gate32 = long || type & 8 != 0
        let selector = UInt16((low >> 16) & 0xFFFF)
        var target = (low & 0xFFFF) | ((low >> 48) & 0xFFFF) << 16
        if long { target |= (high & 0xFFFF_FFFF) << 32 }
        if !gate32 { target &= 0xFFFF }

        // Error codes of faults while delivering an exception or external interrupt carry EXT
        // (bit 0); those of INT n do not (SDM vol. 3, 6.13).
        let ext: UInt32 = software ? 0 : 1
        guard selector & ~3 != 0 else { throw .fault(.gp(ext)) }
        let descriptor: UInt64
        do {
            descriptor = try readDescriptor(selector)
        } catch let error {
            throw Self.addingEXT(ext, to: error)
        }
        let codeSegment = Self.segment(fromDescriptor: descriptor, selector: selector)
        guard codeSegment.isCodeOrData, codeSegment.type & 8 != 0 else { throw .fault(.gp(Self.selectorError(selector) | ext)) }
        guard codeSegment.present else { throw .fault(Fault(vector: Fault.segmentNotPresent, errorCode: Self.selectorError(selector) | ext)) }
        let newCPL = codeSegment.type & 4 != 0 ? s.cpl : codeSegment.dpl
        guard newCPL <= s.cpl else { throw .fault(.gp(UInt32(selector & ~3))) }

        let oldSS = UInt64(s.segment(.ss).selector), oldRSP = s.register(4)
        let oldCS = UInt64(s.segment(.cs).selector), oldFlags = s.rflags
        let stackChange = newCPL < s.cpl
        let istIndex = long ? Int((low >> 32) & 7) : 0
        if long {
            var rsp = oldRSP
            if istIndex != 0 {
                rsp = try readSystem(s.tr.base &+ 0x24 &+ UInt64(istIndex - 1) * 8, size: 8)
            } else if stackChange {
                rsp = try readSystem(s.tr.base &+ 4 &+ UInt64(newCPL) * 8, size: 8)
            }
            rsp &= ~0xF  // the CPU aligns the handler's stack to 16 bytes
            if stackChange {
                var nullSS = Segment()
                nullSS.selector = UInt16(newCPL)
                nullSS.unusable = true
                nullSS.long = false
                state.pointee.setSegment(.ss, nullSS)
            }
            var cs = codeSegment
            cs.selector = selector & ~3 | UInt16(newCPL)
            cs.dpl = newCPL
            state.pointee.setSegment(.cs, cs)
            gpr[4] = rsp
            for value in [oldSS, oldRSP, oldFlags, oldCS, returnAddress] { try push(value, size: 8) }
            if let errorCode { try push(UInt64(errorCode), size: 8) }
        } else {
            let pushSize = gate32 ? 4 : 2
            if stackChange {
                // Inner-level stack from the TSS (32-bit TSS: ESP0 at 4, SS0 at 8, 8 bytes per level).
                let newESP = try readSystem(s.tr.base &+ 4 &+ UInt64(newCPL) * 8, size: 4)
                let newSS = UInt16(try readSystem(s.tr.base &+ 8 &+ UInt64(newCPL) * 8, size: 2))
                var cs = codeSegment
                cs.dpl = newCPL
                state.pointee.setSegment(.cs, cs)  // so the SS load sees the new CPL
                do {
                    try loadSegment(.ss, newSS)
                } catch let error {
                    // A bad SS from the TSS is #TS(SS), a non-present one #SS(SS) (SDM vol. 3, 6.12.1).
                    guard case .fault(let fault) = error, fault.vector == Fault.generalProtection else { throw Self.addingEXT(ext, to: error) }
                    throw .fault(Fault(vector: Fault.invalidTSS, errorCode: Self.selectorError(newSS) | ext))
                }
                gpr[4] = newESP
                try push(oldSS, size: pushSize)
                try push(oldRSP, size: pushSize)
            }
            try push(oldFlags, size: pushSize)
            try push(oldCS, size: pushSize)
            try push(returnAddress, size: pushSize)
            if let errorCode { try push(UInt64(errorCode), size: pushSize) }
            var cs = codeSegment
            cs.selector = selector & ~3 | UInt16(newCPL)
            cs.dpl = newCPL
            state.pointee.setSegment(.cs, cs)
        }
        var flags = state.pointee.rflags & ~(CPUState.tf | CPUState.nt | CPUState.rf | CPUState.vm)
        if isInterruptGate { flags &= ~CPUState.ifl }
        state.pointee.rflags = flags
        state.pointee.rip = target
    }
}
