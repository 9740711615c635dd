import Synchronization
import VMCore

/// The MC146818 RTC and CMOS RAM on ports 0x70 (index, NMI mask) and 0x71 (data), on IRQ 8.
///
/// IRQ 8 is level: raised while register C's IRQF is set, lowered when the guest reads C. The
/// machine keeps one timer for it: after building it, after `timerChanged` fires and whenever the
/// timer expires, it calls `serviceTimer()`, which sets the line and returns the next deadline.
public final class RTCDevice: BusDevice {
    public static let port: UInt16 = 0x70
    public static let portCount: UInt64 = 2
    /// The ISA IRQ the RTC drives.
    public static let irq = 8

    public let name = "rtc"
    private let rtc: Mutex<(model: CMOSRTC, level: Bool)>
    private let clock: any GuestClock
    private let irq8: SerializedInterruptLine
    private let timerChanged: @Sendable () -> Void

    /// `wallClock` is the host's time at machine start in seconds since 1970 (plus `nanoseconds`);
    /// `ramSize` (below 4 GiB) fills the CMOS memory-size fields. `timerChanged` is called (outside
    /// the lock) after a guest access that may move the next event.
    public init(
        clock: any GuestClock, ramSize: UInt64, wallClock: Int64, nanoseconds: UInt64 = 0, irq8: InterruptLine = .unconnected,
        timerChanged: @escaping @Sendable () -> Void = {}
    ) {
        rtc = Mutex((CMOSRTC(ramSize: ramSize, wallClock: wallClock, nanoseconds: nanoseconds), false))
        self.clock = clock
        self.irq8 = SerializedInterruptLine(irq8)
        self.timerChanged = timerChanged
    }

    public func read(offset: UInt64, width: AccessWidth) -> UInt64 {
        let now = clock.nanoseconds
        let (value, level) = access { rtc in
            var value: UInt64 = 0
            for index in 0..<UInt64(width.byteCount) {
                // Port 0x70 is write-only on a PC: it reads as a floating bus.
                let byte = offset + index == 1 ? rtc.readData(now: now) : 0xFF
                value |= UInt64(byte) << (8 * index)
            }
            return value
        }
        drive(level)
        // Reading C lowers the line, after which the next event needs a timer again.
        if level == false { timerChanged() }
        return value
    }

    public func write(offset: UInt64, width: AccessWidth, value: UInt64) -> IOAction {
        let now = clock.nanoseconds
        let (_, level) = access { rtc in
            for index in 0..<UInt64(width.byteCount) {
                let byte = UInt8(truncatingIfNeeded: value >> (8 * index))
                switch offset + index {
                case 0: rtc.select(byte)
                case 1: rtc.writeData(byte, now: now)
                default: break
                }
            }
        }
        drive(level)
        if offset + UInt64(width.byteCount) > 1 { timerChanged() }
        return .proceed
    }

    /// Collects the events due, sets IRQ 8, and returns the guest time (nanoseconds) of the next
    /// event that would raise it, or nil if none is coming (or the line is already high).
    @discardableResult
    public func serviceTimer() -> UInt64? {
        let now = clock.nanoseconds
        let (next, level) = access { rtc in
            rtc.advance(to: now)
            return rtc.nextEvent(after: now)
        }
        drive(level)
        return next
    }

    /// The register state, for tests and debugging.
    public var state: CMOSRTC { rtc.withLock { $0.model } }

    /// Runs `body` on the model; returns its result and the line's new level if it changed.
    private func access<T>(_ body: (inout CMOSRTC) -> T) -> (T, Bool?) {
        rtc.withLock { state in
            let result = body(&state.model)
            let level = state.model.irqAsserted
            guard level != state.level else { return (result, nil) }
            state.level = level
            return (result, level)
        }
    }

    /// After a change, sets the line outside the model's lock to the level the model has now (on
    /// KVM the watchdog thread's timer and the vCPU's reads of register C race).
    private func drive(_ changed: Bool?) {
        guard changed != nil else { return }
        irq8.update { rtc.withLock { $0.model.irqAsserted } }
    }
}
