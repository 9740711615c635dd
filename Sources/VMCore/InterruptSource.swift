/// What a software vCPU sees of the interrupt controllers: the INTR pin, the INTA cycle, and a
/// way to sleep in HLT. The machine implements it over its PIC/I/O APIC/LAPIC models; KVM has
/// its own in-kernel irqchip and does not use it.
public protocol InterruptSource: AnyObject, Sendable {
    /// Whether INTR is asserted. Read whenever the vCPU leaves a chain of blocks with IF set, so
    /// it must be cheap (an atomic load).
    var interruptRequested: Bool { get }
    /// The INTA cycle: the vector to deliver, or nil when the request went away in between.
    func acknowledgeInterrupt() -> UInt8?
    /// Brings timers up to the guest clock (raising their lines); called at every stop check.
    func poll()
    /// HLT with IF set: parks the vCPU thread until an interrupt is requested or `stop` is
    /// raised, sleeping until the next timer deadline rather than spinning. Returns false at once
    /// when nothing can ever wake it (no timer armed, no outside source): the halt then ends the
    /// run, as it does without interrupt controllers.
    func waitForInterrupt(stop: StopSignal) -> Bool

    /// Takes a pending NMI (the vCPU asks only while it is not blocking NMIs, and delivers
    /// vector 2); `interruptRequested` is also true while one is pending.
    func acknowledgeNMI() -> Bool
    /// The guest-physical page of the vCPU's local APIC while it is enabled (IA32_APIC_BASE), nil
    /// without one: accesses to it go to `readLocalAPIC`/`writeLocalAPIC`, not to the bus.
    var localAPICPage: UInt64? { get }
    func readLocalAPIC(offset: UInt64, width: AccessWidth) -> UInt64
    func writeLocalAPIC(offset: UInt64, width: AccessWidth, value: UInt64)
    /// RDMSR of an MSR the platform owns (APIC base, TSC deadline, kvmclock), nil for others.
    /// `tscOffset` is the guest TSC minus the guest clock's nanoseconds (the TSC runs at 1 GHz).
    func readMSR(_ index: UInt32, tscOffset: UInt64) -> UInt64?
    /// WRMSR of a platform MSR: true when taken, false for #GP, nil when not the platform's.
    func writeMSR(_ index: UInt32, value: UInt64, tscOffset: UInt64) -> Bool?
}

/// The parts of the platform a software vCPU reaches as a CPU would: its local APIC (the page and
/// the MSRs, which are inside the CPU on real hardware), NMIs, and the paravirtual clock MSRs.
/// Defaults describe a platform without them (a PIC only), as in the emulator's unit tests.
extension InterruptSource {
    public func acknowledgeNMI() -> Bool { false }
    public var localAPICPage: UInt64? { nil }
    public func readLocalAPIC(offset: UInt64, width: AccessWidth) -> UInt64 { width.mask }
    public func writeLocalAPIC(offset: UInt64, width: AccessWidth, value: UInt64) {}
    public func readMSR(_ index: UInt32, tscOffset: UInt64) -> UInt64? { nil }
    public func writeMSR(_ index: UInt32, value: UInt64, tscOffset: UInt64) -> Bool? { nil }
}
