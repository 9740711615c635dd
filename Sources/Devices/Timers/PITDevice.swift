import Synchronization
import VMCore

/// The 8254 PIT on ports 0x40-0x43, with channel 0's OUT on IRQ 0.
///
/// The machine keeps one timer for it: after building it, after `timerChanged` fires and whenever
/// the timer expires, it calls `serviceTimer()`, which pulses IRQ 0 for the terminal counts that
/// came due and returns the guest time of the next one. Port 0x61 is `portB`, a separate bus device
/// sharing this model.
public final class PITDevice: BusDevice {
    public static let port: UInt16 = 0x40
    public static let portCount: UInt64 = 4
    /// The ISA IRQ channel 0 drives.
    public static let irq = 0

    public let name = "pit"
    private let pit = Mutex(PIT8254())
    /// IRQ 0 edges that came due together, because the vCPU slept past them or the host was busy:
    /// the first is pulsed at once, the others one per later service that may reinject (the
    /// machine's, once the guest is back in HLT, its handler done: a pulse while the last one
    /// still waits in the PIC's IRR would be lost), as KVM's in-kernel PIT reinjects missed
    /// ticks, so a guest that counts ticks keeps time. At most a second's worth at 1000 Hz is
    /// kept, so a long host stall does not turn into a storm.
    private let missedEdges = Mutex<UInt64>(0)
    public static let maximumMissedEdges: UInt64 = 1000
    private let clock: any GuestClock
    private let irq0: InterruptLine
    private let timerChanged: @Sendable () -> Void

    /// `timerChanged` is called (outside the lock) after a guest write that may move channel 0's
    /// next edge, so the machine can re-arm its timer with `serviceTimer()`.
    public init(clock: any GuestClock, irq0: InterruptLine = .unconnected, timerChanged: @escaping @Sendable () -> Void = {}) {
        self.clock = clock
        self.irq0 = irq0
        self.timerChanged = timerChanged
    }

    /// Port 0x61 (system control port B), sharing this PIT's channel 2 (a new view per call:
    /// register one on the bus).
    public var portB: SystemControlPortB { SystemControlPortB(pit: self) }

    public func read(offset: UInt64, width: AccessWidth) -> UInt64 {
        let now = clock.nanoseconds
        let (value, edges) = pit.withLock { pit in
            var value: UInt64 = 0
            for index in 0..<UInt64(width.byteCount) {
                let register = offset + index
                let byte = register < Self.portCount ? pit.read(offset: register, now: now) : 0xFF
                value |= UInt64(byte) << (8 * index)
            }
            return (value, pit.advance(to: now))
        }
        if edges > 0 { irq0.pulse() }
        return value
    }

    public func write(offset: UInt64, width: AccessWidth, value: UInt64) -> IOAction {
        let now = clock.nanoseconds
        let edges = pit.withLock { pit in
            for index in 0..<UInt64(width.byteCount) where offset + index < Self.portCount {
                pit.write(offset: offset + index, value: UInt8(truncatingIfNeeded: value >> (8 * index)), now: now)
            }
            return pit.advance(to: now)
        }
        if edges > 0 { irq0.pulse() }
        // Counter 1 and 2 writes cannot move channel 0's edge; the control register and counter 0
        // can, and ticks owed at the old rate are not owed at the new one.
        if offset == 0 || offset + UInt64(width.byteCount) > 3 {
            missedEdges.withLock { $0 = 0 }
            timerChanged()
        }
        return .proceed
    }

    /// Pulses IRQ 0 if channel 0 reached a terminal count since the last call (or, with
    /// `reinjecting`, one is owed from an earlier call that found several), and returns the guest
    /// time (nanoseconds) of its next one: now while edges are owed and `reinjecting`, nil if
    /// none is scheduled.
    @discardableResult
    public func serviceTimer(reinjecting: Bool = false) -> UInt64? {
        let now = clock.nanoseconds
        let (edges, next) = pit.withLock { pit in
            let edges = pit.advance(to: now)
            return (edges, pit.nextIRQ0Edge(after: now))
        }
        let (pulse, owed) = missedEdges.withLock { missed in
            if edges > 1 { missed = min(missed + UInt64(edges - 1), Self.maximumMissedEdges) }
            if edges > 0 { return (true, missed) }
            guard missed > 0, reinjecting else { return (false, missed) }
            missed -= 1
            return (true, missed)
        }
        if pulse { irq0.pulse() }
        return owed > 0 && reinjecting ? now : next
    }

    /// The register state, for tests and debugging.
    public var state: PIT8254 { pit.withLock { $0 } }

    func readPortB() -> UInt8 {
        let now = clock.nanoseconds
        return pit.withLock { $0.readPortB(now: now) }
    }

    func writePortB(_ value: UInt8) {
        let now = clock.nanoseconds
        pit.withLock { $0.writePortB(value, now: now) }
    }
}

/// Port 0x61, system control port B: channel 2's gate (bit 0), speaker data (bit 1), the refresh
/// toggle (bit 4) and OUT2 (bit 5), which Linux polls to calibrate the TSC.
public final class SystemControlPortB: BusDevice {
    public static let port: UInt16 = 0x61
    public static let portCount: UInt64 = 1

    public let name = "port-b"
    private let pit: PITDevice
    init(pit: PITDevice) { self.pit = pit }

    public func read(offset: UInt64, width: AccessWidth) -> UInt64 {
        // The bus only passes accesses that fit the one-port range: bytes.
        UInt64(pit.readPortB())
    }

    public func write(offset: UInt64, width: AccessWidth, value: UInt64) -> IOAction {
        if offset == 0 { pit.writePortB(UInt8(truncatingIfNeeded: value)) }
        return .proceed
    }
}
