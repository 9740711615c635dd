/// LAR, LSL, VERR and VERW (SDM vol. 2 and APM vol. 3, each instruction): they look a selector
/// up without loading it and report in ZF whether the current privilege may use it. A selector
/// that is null, beyond its table's limit, of the wrong type or too privileged clears ZF and
/// leaves the destination alone; only reading the table itself can fault.
extension Interpreter {
    /// The descriptor of `selector` if it is not null and within its table, else nil.
    func queriedDescriptor(_ selector: UInt16) throws(Interruption) -> UInt64? {
        guard selector & ~3 != 0 else { return nil }
        let s = state.pointee
        let offset = UInt64(selector & ~7)
        if selector & 4 != 0 {
            guard !s.ldt.unusable && s.ldt.selector & 0xFFFC != 0 && offset + 7 <= UInt64(s.ldt.limit) else { return nil }
        } else {
            guard offset + 7 <= UInt64(s.gdt.limit) else { return nil }
        }
        return try readDescriptor(selector)
    }

    /// Whether the current CPL and the selector's RPL may see a descriptor of this DPL: always
    /// for conforming code, else DPL >= max(CPL, RPL).
    func privilegeAllows(_ descriptor: UInt64, selector: UInt16) -> Bool {
        let code = descriptor >> 43 & 1 != 0, conforming = descriptor >> 42 & 1 != 0, codeOrData = descriptor >> 44 & 1 != 0
        if codeOrData && code && conforming { return true }
        let dpl = UInt8(descriptor >> 45 & 3)
        return dpl >= state.pointee.cpl && dpl >= UInt8(selector & 3)
    }

    /// LAR (0F 02) and LSL (0F 03). The system types each accepts differ in long mode, where
    /// only the 64-bit forms exist (LDT, TSS, and for LAR the call gate).
    func loadAccessRightsOrLimit(_ i: inout Instruction, limit: Bool) throws(Interruption) {
        let s = state.pointee
        guard s.isProtected && s.storedFlags & CPUState.vm == 0 else { throw .fault(.ud) }
        let p = i.prefixes
        let m = try decodeModRM(&i)
        let selector = UInt16(truncatingIfNeeded: try read(m.operand, size: 2, p))
        guard let descriptor = try queriedDescriptor(selector) else { return state.pointee.setFlag(CPUState.zf, false) }
        let type = UInt8(descriptor >> 40 & 0xF)
        let valid: Bool
        if descriptor >> 44 & 1 != 0 {
            valid = true
        } else if s.isLongModeActive {
            valid = [2, 9, 0xB].contains(type) || (!limit && type == 0xC)
        } else {
            valid = limit ? [1, 2, 3, 9, 0xB].contains(type) : [1, 2, 3, 4, 5, 9, 0xB, 0xC].contains(type)
        }
        guard valid && privilegeAllows(descriptor, selector: selector) else { return state.pointee.setFlag(CPUState.zf, false) }
        let value: UInt64
        if limit {
            value = UInt64(Self.segment(fromDescriptor: descriptor, selector: selector).limit)
        } else {
            // Bits 8-23 of the descriptor's high doubleword (AMD's mask, 00FFFF00h; Intel leaves
            // bits 16-19 undefined and its CPUs return them too).
            value = descriptor >> 32 & 0x00FF_FF00
        }
        writeReg(m, size: p.operandSize, p, p.operandSize == 2 ? value & 0xFFFF : value)
        state.pointee.setFlag(CPUState.zf, true)
    }

    /// VERR (0F 00 /4) and VERW (/5): readable code or data, or writable data, at this privilege.
    func verifySegment(_ m: ModRM, _ p: Prefixes, write: Bool) throws(Interruption) {
        let selector = UInt16(truncatingIfNeeded: try read(m.operand, size: 2, p))
        guard let descriptor = try queriedDescriptor(selector), descriptor >> 44 & 1 != 0 else {
            return state.pointee.setFlag(CPUState.zf, false)
        }
        let code = descriptor >> 43 & 1 != 0, readableOrWritable = descriptor >> 41 & 1 != 0
        let usable = write ? !code && readableOrWritable : !code || readableOrWritable
        state.pointee.setFlag(CPUState.zf, usable && privilegeAllows(descriptor, selector: selector))
    }
}
