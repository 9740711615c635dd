import VMCore

/// Segment loads and descriptor tables (SDM vol. 3, 3.4-3.5 and 5.5-5.8; MOV, POP, LDS, JMP, CALL,
/// RET and IRET "Operation" in vol. 2), with the privilege and type checks and their error codes.
extension Interpreter {
    /// The error code that names `selector` in #GP/#NP/#SS/#TS: index and TI, EXT and IDT clear.
    @inline(__always) static func selectorError(_ selector: UInt16) -> UInt32 { UInt32(selector & 0xFFFC) }

    /// The linear address of `selector`'s descriptor in the GDT or LDT, or #GP(selector) when it
    /// lies beyond the table's limit or names the LDT while none is loaded.
    func descriptorAddress(_ selector: UInt16) throws(Interruption) -> UInt64 {
        let s = state.pointee
        let offset = UInt64(selector & ~7)
        if selector & 4 != 0 {
            guard !s.ldt.unusable && s.ldt.selector & 0xFFFC != 0 && offset + 7 <= UInt64(s.ldt.limit) else {
                throw .fault(.gp(Self.selectorError(selector)))
            }
            return s.ldt.base &+ offset
        }
        guard offset + 7 <= UInt64(s.gdt.limit) else { throw .fault(.gp(Self.selectorError(selector))) }
        return s.gdt.base &+ offset
    }

    /// Reads the 8-byte descriptor for `selector` from the GDT or LDT, or faults with #GP(selector).
    func readDescriptor(_ selector: UInt16) throws(Interruption) -> UInt64 {
        try readSystem(descriptorAddress(selector), size: 8)
    }

    /// Sets the descriptor's accessed bit, as loading a segment register does (a write the CPU
    /// makes only when the bit is clear).
    func markAccessed(_ selector: UInt16, _ descriptor: UInt64) throws(Interruption) {
        guard descriptor & (1 << 40) == 0 else { return }
        try writeSystem(descriptorAddress(selector) &+ 5, size: 1, (descriptor >> 40) & 0xFF | 1)
    }

    static func segment(fromDescriptor d: UInt64, selector: UInt16) -> Segment {
        var segment = Segment()
        segment.selector = selector
        segment.base = (d >> 16) & 0xFF_FFFF | ((d >> 56) & 0xFF) << 24
        var limit = UInt32(d & 0xFFFF) | UInt32((d >> 48) & 0xF) << 16
        segment.granularity = (d >> 55) & 1 != 0
        if segment.granularity { limit = limit << 12 | 0xFFF }
        segment.limit = limit
        segment.type = UInt8((d >> 40) & 0xF)
        segment.isCodeOrData = (d >> 44) & 1 != 0
        segment.dpl = UInt8((d >> 45) & 3)
        segment.present = (d >> 47) & 1 != 0
        segment.long = (d >> 53) & 1 != 0
        segment.defaultSize32 = (d >> 54) & 1 != 0
        return segment
    }

    /// MOV/POP to a segment register and LDS-style loads: in protected mode, the checks of MOV's
    /// "Operation" in their order, then the accessed bit.
    func loadSegment(_ index: SegmentIndex, _ selector: UInt16) throws(Interruption) {
        let s = state.pointee
        if !s.isProtected || s.rflags & CPUState.vm != 0 {
            var segment = s.segment(index)
            segment.selector = selector
            segment.base = UInt64(selector) << 4
            segment.unusable = false
            segment.present = true
            state.pointee.setSegment(index, segment)
            return
        }
        let cpl = s.cpl, rpl = UInt8(selector & 3)
        let error = Self.selectorError(selector)
        if selector & ~3 == 0 {
            // A null selector: allowed for data segments (unusable until reloaded); for SS only in
            // 64-bit mode below CPL 3 with RPL = CPL.
            if index == .ss && !(s.is64BitMode && cpl != 3 && rpl == cpl) { throw .fault(.gp(0)) }
            var segment = Segment()
            segment.selector = selector
            segment.unusable = true
            segment.present = false
            if index == .ss { segment.dpl = cpl }
            state.pointee.setSegment(index, segment)
            return
        }
        let descriptor = try readDescriptor(selector)
        let segment = Self.segment(fromDescriptor: descriptor, selector: selector)
        let code = segment.type & 8 != 0, readableOrWritable = segment.type & 2 != 0, conforming = code && segment.type & 4 != 0
        guard segment.isCodeOrData else { throw .fault(.gp(error)) }
        if index == .ss {
            guard rpl == cpl && !code && readableOrWritable && segment.dpl == cpl else { throw .fault(.gp(error)) }
            guard segment.present else { throw .fault(Fault(vector: Fault.stackFault, errorCode: error)) }
        } else {
            guard !code || readableOrWritable else { throw .fault(.gp(error)) }  // execute-only code
            if !conforming && (rpl > segment.dpl || cpl > segment.dpl) { throw .fault(.gp(error)) }
            guard segment.present else { throw .fault(Fault(vector: Fault.segmentNotPresent, errorCode: error)) }
        }
        try markAccessed(selector, descriptor)
        var loaded = segment
        loaded.type |= 1
        state.pointee.setSegment(index, loaded)
    }

    /// How CS is being loaded: a direct far JMP/CALL (the new code runs at the current CPL), or a
    /// far RET/IRET (it runs at the selector's RPL).
    enum CodeSegmentLoad { case transfer, returning }

    /// Loads CS for a far JMP/CALL/RET/IRET in protected or long mode, or real mode. Call gates and
    /// task switches are not implemented: a system descriptor is #GP(selector).
    func loadCodeSegment(_ selector: UInt16, _ kind: CodeSegmentLoad = .transfer) throws(Interruption) {
        let s = state.pointee
        if !s.isProtected || s.rflags & CPUState.vm != 0 {
            var segment = s.segment(.cs)
            segment.selector = selector
            segment.base = UInt64(selector) << 4
            state.pointee.setSegment(.cs, segment)
            return
        }
        guard selector & ~3 != 0 else { throw .fault(.gp(0)) }
        let error = Self.selectorError(selector)
        let descriptor = try readDescriptor(selector)
        var segment = Self.segment(fromDescriptor: descriptor, selector: selector)
        guard segment.isCodeOrData, segment.type & 8 != 0 else { throw .fault(.gp(error)) }
        let cpl = s.cpl, rpl = UInt8(selector & 3)
        let conforming = segment.type & 4 != 0
        let newCPL: UInt8
        switch kind {
        case .transfer:
            // Conforming: DPL <= CPL. Non-conforming: RPL <= CPL and DPL = CPL. CPL stays.
            if conforming ? segment.dpl > cpl : (rpl > cpl || segment.dpl != cpl) { throw .fault(.gp(error)) }
            newCPL = cpl
        case .returning:
            // RPL >= CPL; conforming: DPL <= RPL, non-conforming: DPL = RPL. CPL becomes RPL.
            if rpl < cpl || (conforming ? segment.dpl > rpl : segment.dpl != rpl) { throw .fault(.gp(error)) }
            newCPL = rpl
        }
        // In long mode L and D together are reserved for code segments.
        if s.isLongModeActive && segment.long && segment.defaultSize32 { throw .fault(.gp(error)) }
        guard segment.present else { throw .fault(Fault(vector: Fault.segmentNotPresent, errorCode: error)) }
        try markAccessed(selector, descriptor)
        segment.type |= 1
        segment.dpl = newCPL  // CPL is CS.DPL here (a conforming segment runs at the caller's level)
        segment.selector = selector & ~3 | UInt16(newCPL)
        state.pointee.setSegment(.cs, segment)
    }

    /// After a return to an outer level: DS, ES, FS and GS that the new CPL may not use (data or
    /// non-conforming code with DPL < CPL) become null (SDM vol. 2, RET and IRET).
    func invalidateSegmentsForOuterLevel() {
        let cpl = state.pointee.cpl
        for index in [SegmentIndex.es, .ds, .fs, .gs] {
            let segment = state.pointee.segment(index)
            let conformingCode = segment.type & 0xC == 0xC
            if !segment.unusable && segment.isCodeOrData && !conformingCode && segment.dpl < cpl {
                var null = Segment()
                null.unusable = true
                null.present = false
                state.pointee.setSegment(index, null)
            }
        }
    }
}
