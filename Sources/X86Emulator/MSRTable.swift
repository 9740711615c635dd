import VMCore

/// MSRs of the CPU model (AMD family 0Fh, VMCore's `CPUModel`) beyond the ones `CPUState` keeps
/// for the boot path: the SYSENTER MSRs, the four legacy performance counters and their event
/// selects, and the K8 configuration registers a kernel for that CPU reads or writes without
/// checking CPUID first.
struct ModelSpecificRegisters {
    var sysenterCS: UInt64 = 0, sysenterESP: UInt64 = 0, sysenterEIP: UInt64 = 0
    /// PerfEvtSel0-3 and PerfCtr0-3 (APM vol. 2, 13.2). The counters hold what software writes
    /// and RDPMC/RDMSR read it back; no event counts (an emulator has no cache misses to count),
    /// so a counter programmed to overflow never does.
    var eventSelect = InlineArray<4, UInt64>(repeating: 0)
    var counter = InlineArray<4, UInt64>(repeating: 0)
    /// HWCR, SYSCFG, NB_CFG, the erratum-400 interrupt-pending message register, DebugCtl.
    var hardwareConfiguration: UInt64 = 0, systemConfiguration: UInt64 = 0, northBridgeConfiguration: UInt64 = 0
    var interruptPendingMessage: UInt64 = 0
    var debugControl: UInt64 = 0
}

/// The MSR table: RDMSR/WRMSR of every MSR the model has; any other number is #GP(0), as on a
/// CPU without it. Whether an MSR exists follows the CPUID the model reports: no MTRR, PAT, MCE,
/// MCA, TSC_AUX (RDTSCP) or SVM bits, so none of their MSRs; the Intel-only MSRs (MISC_ENABLE,
/// FEATURE_CONTROL, the architectural PMU) are #GP on this AMD CPU.
extension Interpreter {
    enum MSR {
        static let timeStampCounter: UInt32 = 0x10, apicBase: UInt32 = 0x1B
        /// AMD's microcode patch level (MSR 8Bh): reads 0 ("no patch"), writes are ignored.
        static let patchLevel: UInt32 = 0x8B
        static let sysenterCS: UInt32 = 0x174, sysenterESP: UInt32 = 0x175, sysenterEIP: UInt32 = 0x176
        static let debugControl: UInt32 = 0x1D9
        static let efer: UInt32 = 0xC000_0080, star: UInt32 = 0xC000_0081, lstar: UInt32 = 0xC000_0082, cstar: UInt32 = 0xC000_0083
        static let sfmask: UInt32 = 0xC000_0084
        static let fsBase: UInt32 = 0xC000_0100, gsBase: UInt32 = 0xC000_0101, kernelGSBase: UInt32 = 0xC000_0102
        static let eventSelects: ClosedRange<UInt32> = 0xC001_0000...0xC001_0003
        static let counters: ClosedRange<UInt32> = 0xC001_0004...0xC001_0007
        static let systemConfiguration: UInt32 = 0xC001_0010
        static let hardwareConfiguration: UInt32 = 0xC001_0015
        static let northBridgeConfiguration: UInt32 = 0xC001_001F
        static let interruptPendingMessage: UInt32 = 0xC001_0055
    }

    /// PerfCtr0-3 are 48 bits wide on family 0Fh (APM vol. 2, 13.2.1).
    static var counterMask: UInt64 { (1 << 48) - 1 }

    func readMSR(_ number: UInt32) throws(Interruption) -> UInt64 {
        let s = state.pointee
        switch number {
        case MSR.timeStampCounter: return timeStampCounter()
        case MSR.apicBase where platform == nil: return s.apicBase
        case MSR.patchLevel: return 0
        case MSR.sysenterCS: return s.msrs.sysenterCS
        case MSR.sysenterESP: return s.msrs.sysenterESP
        case MSR.sysenterEIP: return s.msrs.sysenterEIP
        case MSR.debugControl: return s.msrs.debugControl
        case MSR.efer: return s.efer
        case MSR.star: return s.star
        case MSR.lstar: return s.lstar
        case MSR.cstar: return s.cstar
        case MSR.sfmask: return s.sfmask
        case MSR.fsBase: return s.segment(.fs).base
        case MSR.gsBase: return s.segment(.gs).base
        case MSR.kernelGSBase: return s.kernelGSBase
        case MSR.eventSelects: return s.msrs.eventSelect[Int(number - MSR.eventSelects.lowerBound)]
        case MSR.counters: return s.msrs.counter[Int(number - MSR.counters.lowerBound)]
        case MSR.systemConfiguration: return s.msrs.systemConfiguration
        case MSR.hardwareConfiguration: return s.msrs.hardwareConfiguration
        case MSR.northBridgeConfiguration: return s.msrs.northBridgeConfiguration
        case MSR.interruptPendingMessage: return s.msrs.interruptPendingMessage
        default:
            // The platform's MSRs: the APIC's, TSC deadline, kvmclock (when the machine has them).
            guard let value = platform?.readMSR(number, tscOffset: s.tscOffset) else { throw .fault(.gp()) }
            return value
        }
    }

    func writeMSR(_ number: UInt32, _ value: UInt64) throws(Interruption) {
        switch number {
        case MSR.timeStampCounter: state.pointee.tscOffset = value &- clock.nanoseconds
        case MSR.apicBase where platform == nil: state.pointee.apicBase = value
        case MSR.patchLevel: break
        case MSR.sysenterCS: state.pointee.msrs.sysenterCS = value & 0xFFFF_FFFF
        case MSR.sysenterESP: state.pointee.msrs.sysenterESP = try canonical(value)
        case MSR.sysenterEIP: state.pointee.msrs.sysenterEIP = try canonical(value)
        case MSR.debugControl:
            // LBR (0) and BTF (1) are the defined bits; the rest are reserved (#GP). BTF's
            // single-step-on-branches is not implemented: the bit is kept and reads back.
            guard value & ~3 == 0 else { throw .fault(.gp()) }
            state.pointee.msrs.debugControl = value
        case MSR.efer:
            // SCE (0), LME (8), NXE (11) are writable; LMA (10) is the CPU's; the rest reserved.
            guard value & ~UInt64(0xD01) == 0 else { throw .fault(.gp()) }
            let lma = state.pointee.efer & ControlBits.eferLongModeActive
            if state.pointee.isPaging && (value ^ state.pointee.efer) & ControlBits.eferLongModeEnable != 0 { throw .fault(.gp()) }
            state.pointee.efer = value & ~ControlBits.eferLongModeActive | lma
            tlb.flushAll()
        case MSR.star: state.pointee.star = value
        case MSR.lstar: state.pointee.lstar = try canonical(value)
        case MSR.cstar: state.pointee.cstar = try canonical(value)
        case MSR.sfmask: state.pointee.sfmask = value & 0xFFFF_FFFF
        case MSR.fsBase: state.pointee.segments.4.base = try canonical(value)
        case MSR.gsBase: state.pointee.segments.5.base = try canonical(value)
        case MSR.kernelGSBase: state.pointee.kernelGSBase = try canonical(value)
        case MSR.eventSelects:
            // Bits 32-63 are reserved on family 0Fh (#GP when set).
            guard value >> 32 == 0 else { throw .fault(.gp()) }
            state.pointee.msrs.eventSelect[Int(number - MSR.eventSelects.lowerBound)] = value
        case MSR.counters: state.pointee.msrs.counter[Int(number - MSR.counters.lowerBound)] = value & Self.counterMask
        case MSR.systemConfiguration: state.pointee.msrs.systemConfiguration = value & 0xFFFF_FFFF
        case MSR.hardwareConfiguration: state.pointee.msrs.hardwareConfiguration = value & 0xFFFF_FFFF
        case MSR.northBridgeConfiguration: state.pointee.msrs.northBridgeConfiguration = value
        case MSR.interruptPendingMessage:
            // No C1E here, so the bits Linux's erratum-400 check looks at (27-28) stay clear
            // whatever is written; the rest reads back.
            state.pointee.msrs.interruptPendingMessage = value & ~UInt64(3 << 27)
        default:
            guard platform?.writeMSR(number, value: value, tscOffset: state.pointee.tscOffset) == true else { throw .fault(.gp()) }
            state.pointee.stopBlock = true  // an APIC or timer change may make an interrupt due
        }
    }

    /// `value` if it is canonical for the model's 48-bit linear addresses, else #GP(0): the
    /// check WRMSR makes for the MSRs that hold addresses (APM vol. 2, 4.5.3; SDM vol. 4).
    func canonical(_ value: UInt64) throws(Interruption) -> UInt64 {
        guard isCanonical(value) else { throw .fault(.gp()) }
        return value
    }

    /// RDPMC: ECX selects PerfCtr0-3; #GP(0) for others, and at CPL > 0 unless CR4.PCE is set
    /// (or in virtual-8086 mode, which runs at CPL 3).
    func readPerformanceCounter() throws(Interruption) {
        let s = state.pointee
        let pce: UInt64 = 1 << 8
        let cpl = s.storedFlags & CPUState.vm != 0 ? 3 : s.cpl
        if cpl > 0 && s.cr4 & pce == 0 { throw .fault(.gp()) }
        let index = gpr[1] & 0xFFFF_FFFF
        guard index < 4 else { throw .fault(.gp()) }
        let value = s.msrs.counter[Int(index)]
        writeRegister(0, size: 4, rex: true, value & 0xFFFF_FFFF)
        writeRegister(2, size: 4, rex: true, value >> 32)
    }
}

/// Bits 63:47 all equal: canonical for 48-bit linear addresses (CPUModel.linearAddressBits).
@inline(__always) func isCanonical(_ address: UInt64) -> Bool {
    (address &+ (1 << 47)) >> 48 == 0
}

/// Whether every byte of an access of `size` bytes at `address` is canonical: an access that
/// starts below the hole and runs into it faults as a whole.
@inline(__always) func isCanonical(_ address: UInt64, size: Int) -> Bool {
    ((address &+ (1 << 47)) | (address &+ UInt64(truncatingIfNeeded: size &- 1) &+ (1 << 47))) >> 48 == 0
}
