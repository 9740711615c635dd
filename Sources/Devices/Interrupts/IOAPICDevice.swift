import Synchronization
import VMCore

/// The I/O APIC on the MMIO bus and as the software backend's interrupt router (GSI = pin).
///
/// Deliveries go to `onDeliver`, which the machine sets when it builds the platform, always
/// outside the lock (lock order: device, then controller, then LAPIC). It returns whether a LAPIC
/// took the message; one that none took leaves a level pin free to deliver again.
public final class IOAPICDevice: BusDevice, InterruptRouter {
    /// The MMIO window: IOREGSEL, IOWIN and reserved space up to a page.
    public static let mmioSize: UInt64 = 0x1000

    public let name = "ioapic"
    private let ioapic: Mutex<IOAPIC>
    private let onDeliver: @Sendable (IOAPICDelivery) -> Bool

    public init(id: UInt8 = 0, onDeliver: @escaping @Sendable (IOAPICDelivery) -> Bool) {
        ioapic = Mutex(IOAPIC(id: id))
        self.onDeliver = onDeliver
    }

    /// Any width: the register's low bytes. Linux uses 32-bit accesses.
    public func read(offset: UInt64, width: AccessWidth) -> UInt64 {
        UInt64(ioapic.withLock { $0.read(offset: offset) }) & width.mask
    }

    public func write(offset: UInt64, width: AccessWidth, value: UInt64) -> IOAction {
        let delivery = ioapic.withLock { $0.write(offset: offset, value: UInt32(truncatingIfNeeded: value & width.mask)) }
        if let delivery { deliver(delivery) }
        return .proceed
    }

    public func setLevel(gsi: Int, high: Bool) {
        let delivery = ioapic.withLock { $0.setLevel(pin: gsi, high: high) }
        if let delivery { deliver(delivery) }
    }

    /// A LAPIC's EOI for a level-triggered vector (`APICWriteEffect.eoi(vector:level: true)`).
    public func endOfInterrupt(vector: UInt8) {
        let deliveries = ioapic.withLock { $0.endOfInterrupt(vector: vector) }
        for delivery in deliveries { deliver(delivery) }
    }

    private func deliver(_ delivery: IOAPICDelivery) {
        // No LAPIC accepted it: see `IOAPIC.deliveryRejected(pin:)`.
        if !onDeliver(delivery) { ioapic.withLock { $0.deliveryRejected(pin: delivery.pin) } }
    }

    /// The register state, for tests and debugging.
    public var state: IOAPIC { ioapic.withLock { $0 } }
}
