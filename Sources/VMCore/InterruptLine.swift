import Synchronization

/// Where interrupt lines end: an interrupt controller model (the software backend's PIC and I/O
/// APIC) or the KVM in-kernel irqchip (`KVM_IRQ_LINE`). Devices never learn which.
public protocol InterruptRouter: AnyObject, Sendable {
    /// Sets the level of global system interrupt `gsi` (0-23: the ISA IRQs are 0-15).
    func setLevel(gsi: Int, high: Bool)
}

/// A device's interrupt output, wired to one GSI when the machine is built.
///
/// Level-triggered sources (the UART, a level-mode PIT output) `raise` and `lower` it; edge
/// sources `pulse` it. Call it outside the device's lock (lock order: device, then controller).
public struct InterruptLine: Sendable {
    public let gsi: Int
    private let router: (any InterruptRouter)?

    public init(gsi: Int, router: any InterruptRouter) {
        self.gsi = gsi
        self.router = router
    }

    /// A line connected to nothing (a device built without a controller, as in unit tests).
    public static let unconnected = InterruptLine()
    private init() {
        gsi = -1
        router = nil
    }

    public func raise() { router?.setLevel(gsi: gsi, high: true) }
    public func lower() { router?.setLevel(gsi: gsi, high: false) }
    /// An edge: raised and lowered at once.
    public func pulse() {
        raise()
        lower()
    }
    /// Raises or lowers the line to `high`.
    public func set(_ high: Bool) { high ? raise() : lower() }
}

/// An interrupt line that devices changed from more than one thread drive (the UART: the vCPU's
/// accesses and the host input thread; the RTC on KVM: the vCPU and the watchdog's timer): each
/// update reads the device's level and sets the line under one lock, so the last update always
/// leaves the line at the device's current level. (Setting it after the device's lock, from each
/// thread's own snapshot, let a stale "low" land after a newer "high": an edge-triggered guest
/// then waited for an interrupt that never came.) Lock order: this line, the device, then the
/// controller; `level` takes the device's lock and must not set lines.
public final class SerializedInterruptLine: Sendable {
    public let line: InterruptLine
    private let order = Mutex(())

    public init(_ line: InterruptLine) { self.line = line }

    /// Sets the line to `level()`, read now.
    public func update(_ level: () -> Bool) {
        order.withLock { _ in line.set(level()) }
    }
}
