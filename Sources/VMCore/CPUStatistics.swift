#if canImport(Glibc)
    import Glibc
#endif

/// The kinds of exit a backend counts.
public enum ExitKind: Int, Sendable, CaseIterable {
    case portIO, mmio, hypercall, halt, interrupted, other

    public var name: String {
        switch self {
        case .portIO: return "io"
        case .mmio: return "mmio"
        case .hypercall: return "hypercall"
        case .halt: return "hlt"
        case .interrupted: return "intr"
        case .other: return "other"
        }
    }
}

/// What a backend measured while running: exits by kind and time spent inside the guest.
public struct CPUStatistics: Sendable, Equatable {
    /// Indexed by `ExitKind.rawValue`; a fixed array so counting costs no hashing on the exit path.
    public var exits = [UInt64](repeating: 0, count: ExitKind.allCases.count)
    /// Nanoseconds spent inside the guest (in KVM_RUN, or in the emulator loop).
    public var guestNanoseconds: UInt64 = 0
    /// Invalid-opcode exceptions raised by the software backend (instructions it does not
    /// implement, or truly invalid ones), with the bytes of up to eight distinct ones.
    public var invalidOpcodes: UInt64 = 0
    public var invalidOpcodeSamples: [[UInt8]] = []
    /// Instructions the software backend completed, not counting the one that stopped the run
    /// (KVM does not count them: 0 there).
    public var instructions: UInt64 = 0
    /// External interrupts the software backend delivered to the guest.
    public var interruptsDelivered: UInt64 = 0
    /// Page walks made to refill the software backend's TLB: misses, and the accesses a TLB
    /// entry cannot serve (MMIO, the first write to a clean page). 0 on KVM.
    public var tlbRefills: UInt64 = 0
    public init() {}

    public subscript(kind: ExitKind) -> UInt64 {
        get { exits[kind.rawValue] }
        set { exits[kind.rawValue] = newValue }
    }
    public var totalExits: UInt64 { exits.reduce(0, +) }
}

/// Monotonic time in nanoseconds (CLOCK_MONOTONIC).
public func monotonicNanoseconds() -> UInt64 {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
}
