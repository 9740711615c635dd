import VMCore

/// SYSCALL/SYSRET and SYSENTER/SYSEXIT as an AMD CPU runs them (APM vol. 3, each instruction's
/// "Operation"), the vendor the CPU model names:
/// - SYSCALL/SYSRET work in every mode once EFER.SCE is set: legacy mode (STAR's EIP), 64-bit
///   mode (LSTAR) and compatibility mode (CSTAR; Intel has no compatibility-mode SYSCALL).
/// - SYSENTER/SYSEXIT are legacy-mode instructions: #UD whenever long mode is active (Intel runs
///   them in long mode).
/// - SYSRET leaves the rest of SS (base, limit, type, usability) as it was and loads only the
///   selector: SS stays unusable if an interrupt left it null, the AMD quirk Linux works around
///   (X86_BUG_SYSRET_SS_ATTRS). SS.DPL does become 3, so that the state a snapshot hands to a KVM
///   vCPU keeps SS.DPL = CPL, which hosts check.
/// - A non-canonical SYSRET target is no #GP at CPL 0, as on Intel: the #GP comes from fetching
///   it, at CPL 3 (APM: "the processor ... takes the #GP in CPL 3").
extension Interpreter {
    static var eferSystemCallEnable: UInt64 { 1 }

    func flatSegment(selector: UInt16, code: Bool, dpl: UInt8, long: Bool) -> Segment {
        Segment(
            base: 0, limit: 0xFFFF_FFFF, selector: selector, type: code ? 0xB : 0x3, dpl: dpl, defaultSize32: !long || !code, long: long,
            granularity: true)
    }

    func syscall(_ i: Instruction) throws(Interruption) -> UInt64 {
        let s = state.pointee
        guard s.efer & Self.eferSystemCallEnable != 0 else { throw .fault(.ud) }
        let selector = UInt16((s.star >> 32) & 0xFFFC)
        let flags = s.rflags
        if s.isLongModeActive {
            gpr[1] = i.cursor
            gpr[11] = flags & ~CPUState.rf
            state.pointee.setSegment(.cs, flatSegment(selector: selector, code: true, dpl: 0, long: true))
            state.pointee.setSegment(.ss, flatSegment(selector: selector &+ 8, code: false, dpl: 0, long: false))
            state.pointee.rflags = flags & ~s.sfmask & ~CPUState.rf | 2
            return s.is64BitMode ? s.lstar : s.cstar
        }
        writeRegister(1, size: 4, rex: true, i.cursor)
        state.pointee.setSegment(.cs, flatSegment(selector: selector, code: true, dpl: 0, long: false))
        state.pointee.setSegment(.ss, flatSegment(selector: selector &+ 8, code: false, dpl: 0, long: false))
        state.pointee.rflags = flags & ~(CPUState.vm | CPUState.ifl | CPUState.rf) | 2
        return s.star & 0xFFFF_FFFF
    }

    func sysret(_ p: Prefixes) throws(Interruption) -> UInt64 {
        let s = state.pointee
        guard s.efer & Self.eferSystemCallEnable != 0 else { throw .fault(.ud) }
        guard s.isProtected && s.cpl == 0 else { throw .fault(.gp()) }
        let base = UInt16((s.star >> 48) & 0xFFFF)
        let to64 = s.is64BitMode && p.rexW
        var ss = s.segment(.ss)
        ss.selector = (base &+ 8) | 3
        ss.dpl = 3
        state.pointee.setSegment(.cs, flatSegment(selector: (to64 ? base &+ 16 : base) | 3, code: true, dpl: 3, long: to64))
        state.pointee.setSegment(.ss, ss)
        if s.is64BitMode {
            state.pointee.rflags = gpr[11] & 0x3C_7FD7 | 2
        } else {
            state.pointee.rflags = s.rflags | CPUState.ifl  // legacy and compatibility mode: IF set, the rest kept
        }
        if !s.flag(CPUState.ifl) && state.pointee.flag(CPUState.ifl) { openedInterruptWindow() }
        return to64 ? gpr[1] : gpr[1] & 0xFFFF_FFFF
    }

    func sysenter() throws(Interruption) -> UInt64 {
        let s = state.pointee
        guard !s.isLongModeActive else { throw .fault(.ud) }
        let selector = UInt16(truncatingIfNeeded: s.msrs.sysenterCS) & 0xFFFC
        guard s.isProtected && selector != 0 else { throw .fault(.gp()) }
        state.pointee.rflags = s.rflags & ~(CPUState.vm | CPUState.ifl | CPUState.rf)
        state.pointee.setSegment(.cs, flatSegment(selector: selector, code: true, dpl: 0, long: false))
        state.pointee.setSegment(.ss, flatSegment(selector: selector &+ 8, code: false, dpl: 0, long: false))
        gpr[4] = s.msrs.sysenterESP & 0xFFFF_FFFF
        return s.msrs.sysenterEIP & 0xFFFF_FFFF
    }

    func sysexit(_ p: Prefixes) throws(Interruption) -> UInt64 {
        let s = state.pointee
        guard !s.isLongModeActive else { throw .fault(.ud) }
        let selector = UInt16(truncatingIfNeeded: s.msrs.sysenterCS) & 0xFFFC
        guard s.isProtected && s.cpl == 0 && selector != 0 else { throw .fault(.gp()) }
        state.pointee.setSegment(.cs, flatSegment(selector: (selector &+ 16) | 3, code: true, dpl: 3, long: false))
        state.pointee.setSegment(.ss, flatSegment(selector: (selector &+ 24) | 3, code: false, dpl: 3, long: false))
        gpr[4] = gpr[1] & 0xFFFF_FFFF
        return gpr[2] & 0xFFFF_FFFF
    }
}
