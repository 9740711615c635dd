import Devices
import Synchronization
import VMCore

/// The software vCPU's local APIC: the register model under a lock, reached from the vCPU thread
/// (its page, its MSRs, INTA, the timer) and from device threads through the I/O APIC.
final class LocalAPICUnit: Sendable {
    private let apic: Mutex<LocalAPIC>
    private let clock: any GuestClock
    /// The page address while the APIC is enabled, `disabledPage` otherwise: read on every MMIO
    /// access the vCPU makes, so it must not take the lock.
    private let page = Atomic<UInt64>(LocalAPIC.defaultBase)
    private static let disabledPage = UInt64.max
    private let physicalAddressBits: Int

    /// Software-enabled with LINT0 in ExtINT mode, as firmware hands the BSP to an OS, so the
    /// 8259's interrupts reach the CPU until the guest programs the APIC. Timer and TSC count
    /// guest nanoseconds (1 GHz).
    init(clock: any GuestClock, physicalAddressBits: Int) {
        self.clock = clock
        self.physicalAddressBits = physicalAddressBits
        apic = Mutex(LocalAPIC(timerFrequencyHz: 1_000_000_000, tscFrequencyHz: 1_000_000_000, virtualWire: true))
    }

    var pageAddress: UInt64? {
        let value = page.load(ordering: .acquiring)
        return value == Self.disabledPage ? nil : value
    }

    func read(offset: UInt64, width: AccessWidth) -> UInt64 {
        let now = clock.nanoseconds
        return apic.withLock { $0.read(offset: offset, width: width, now: now) }
    }

    func write(offset: UInt64, width: AccessWidth, value: UInt64) -> APICWriteEffect {
        let now = clock.nanoseconds
        return apic.withLock { $0.write(offset: offset, width: width, value: value, now: now) }
    }

    /// A message from the I/O APIC; false when this APIC did not take it.
    func receive(_ delivery: IOAPICDelivery) -> Bool { apic.withLock { $0.receive(delivery) } }

    /// INTA: the highest deliverable vector, moved from IRR to ISR.
    func acknowledge() -> UInt8? { apic.withLock { $0.acknowledge() } }

    func takeNMI() -> Bool { apic.withLock { $0.takeNMI() } }

    /// Whether the APIC has something for the CPU: a vector above PPR, or an NMI.
    var hasRequest: Bool { apic.withLock { $0.pendingVector() != nil || $0.nmiPending } }

    /// Whether the 8259's INTR reaches the CPU (LINT0 ExtINT, or the APIC disabled).
    var takesExtINT: Bool { apic.withLock { $0.lint0IsExtINT } }

    /// Fires the timer if its deadline has passed; returns the next deadline.
    func serviceTimer() -> UInt64? {
        let now = clock.nanoseconds
        return apic.withLock { apic in
            if let deadline = apic.nextTimerDeadline(), deadline <= now { apic.fireTimer(now: now) }
            return apic.nextTimerDeadline()
        }
    }

    // MARK: MSRs

    var baseMSR: UInt64 { apic.withLock { $0.apicBase } }

    /// WRMSR IA32_APIC_BASE: false (#GP) for reserved bits.
    func writeBaseMSR(_ value: UInt64) -> Bool {
        apic.withLock { apic in
            guard apic.writeBaseMSR(value, physicalAddressBits: physicalAddressBits) else { return false }
            page.store(apic.isHardwareEnabled ? apic.baseAddress : Self.disabledPage, ordering: .releasing)
            return true
        }
    }

    /// IA32_TSC_DEADLINE in the guest clock's terms (TSC minus the vCPU's offset).
    func tscDeadline(tscOffset: UInt64) -> UInt64 {
        let deadline = apic.withLock { $0.tscDeadline }
        return deadline == 0 ? 0 : deadline &+ tscOffset
    }

    func writeTSCDeadline(_ tsc: UInt64, tscOffset: UInt64) {
        let now = clock.nanoseconds
        // A deadline the offset puts before guest time 0 has passed already.
        let local = tsc == 0 ? 0 : (tsc >= tscOffset ? max(tsc &- tscOffset, 1) : 1)
        _ = apic.withLock { $0.writeTSCDeadline(local, now: now) }
    }

    /// The register state, for tests and debugging.
    var state: LocalAPIC { apic.withLock { $0 } }
}
