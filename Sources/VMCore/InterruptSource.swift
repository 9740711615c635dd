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
}
