import VMCore

/// Segment loads and descriptor tables (SDM vol. 3, 3.4-3.5).
extension Interpreter {
    /// Reads the 8-byte descriptor for `selector` from the GDT or LDT, or faults with #GP(selector).
    func readDescriptor(_ selector: UInt16) throws(Interruption) -> UInt64 {
        let s = state.pointee
        let table = selector & 4 != 0 ? (s.ldt.base, UInt64(s.ldt.limit)) : (s.gdt.base, UInt64(s.gdt.limit))
        let offset = UInt64(selector & ~7)
        guard offset + 7 <= table.1 else { throw .fault(.gp(UInt32(selector & ~3))) }
        return try readLinear(table.0 &+ offset, size: 8)
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

    /// MOV/POP to a segment register, LDS-style loads and far transfers' data checks.
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
        if selector & ~3 == 0 {
            // A null selector: allowed for data segments (unusable until reloaded), never for SS
            // outside 64-bit mode.
            guard index != .ss || s.is64BitMode else { throw .fault(.gp(0)) }
            var segment = Segment()
            segment.selector = selector
            segment.unusable = true
            segment.present = false
            state.pointee.setSegment(index, segment)
            return
        }
        let segment = Self.segment(fromDescriptor: try readDescriptor(selector), selector: selector)
        let code = segment.type & 8 != 0
        guard segment.isCodeOrData else { throw .fault(.gp(UInt32(selector & ~3))) }
        if index == .ss {
            guard !code && segment.type & 2 != 0 else { throw .fault(.gp(UInt32(selector & ~3))) }
            guard segment.present else { throw .fault(Fault(vector: Fault.stackFault, errorCode: UInt32(selector & ~3))) }
        } else {
            guard !code || segment.type & 2 != 0 else { throw .fault(.gp(UInt32(selector & ~3))) }  // execute-only code
            guard segment.present else { throw .fault(Fault(vector: 11, errorCode: UInt32(selector & ~3))) }
        }
        state.pointee.setSegment(index, segment)
    }

    /// Loads CS for a far JMP/CALL/RET/IRET in protected or long mode, or real mode.
    func loadCodeSegment(_ selector: UInt16) throws(Interruption) {
        let s = state.pointee
        if !s.isProtected || s.rflags & CPUState.vm != 0 {
            var segment = s.segment(.cs)
            segment.selector = selector
            segment.base = UInt64(selector) << 4
            state.pointee.setSegment(.cs, segment)
            return
        }
        guard selector & ~3 != 0 else { throw .fault(.gp(0)) }
        var segment = Self.segment(fromDescriptor: try readDescriptor(selector), selector: selector)
        guard segment.isCodeOrData, segment.type & 8 != 0 else { throw .fault(.gp(UInt32(selector & ~3))) }
        guard segment.present else { throw .fault(Fault(vector: 11, errorCode: UInt32(selector & ~3))) }
        // Conforming segments keep the current privilege; others run at their DPL (RPL for returns).
        if segment.type & 4 != 0 { segment.dpl = s.cpl }
        segment.selector = selector & ~3 | UInt16(segment.dpl)
        state.pointee.setSegment(.cs, segment)
    }
}
