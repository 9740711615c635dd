import Devices
import Synchronization
import VMCore

#if canImport(Glibc)
    import Glibc
#endif

/// The PC platform's interrupt controller and timers for the software backend: the 8259A pair,
/// the 8254 PIT (with port 0x61) and the CMOS RTC, all on one guest clock, seen by the vCPU as its
/// `InterruptSource`. (KVM keeps its PIC and PIT in the kernel; that wiring is not done yet.)
final class SoftwarePlatform: InterruptSource {
    let clock = HostGuestClock()
    let pic: PICDevice
    let pit: PITDevice
    let rtc: RTCDevice
    private let idle: IdleWait
    /// Set when the PIC's INT rises (on any thread), cleared when an acknowledge finds it low:
    /// the vCPU reads it after every chain, so it must not take the PIC's lock.
    private let requestHint: RequestHint

    /// Whether host input can still raise a line (the UART's input has not ended).
    private let inputAttached: @Sendable () -> Bool

    init(ramSize: UInt64, inputAttached: (@Sendable () -> Bool)? = nil) {
        self.inputAttached = inputAttached ?? { false }
        let idle = IdleWait()
        let hint = RequestHint()
        self.idle = idle
        requestHint = hint
        pic = PICDevice(onInterruptRequest: {
            hint.flag.store(true, ordering: .sequentiallyConsistent)
            idle.wake()
        })
        pit = PITDevice(clock: clock, irq0: InterruptLine(gsi: PITDevice.irq, router: pic))
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        rtc = RTCDevice(
            clock: clock, ramSize: ramSize, wallClock: Int64(now.tv_sec), nanoseconds: UInt64(now.tv_nsec),
            irq8: InterruptLine(gsi: RTCDevice.irq, router: pic))
    }

    /// The platform's port ranges for the bus.
    var busDevices: [(BusRange, any BusDevice)] {
        pic.busDevices + [
            (BusRange(base: UInt64(PITDevice.port), size: PITDevice.portCount), pit),
            (BusRange(base: UInt64(SystemControlPortB.port), size: SystemControlPortB.portCount), pit.portB),
            (BusRange(base: UInt64(RTCDevice.port), size: RTCDevice.portCount), rtc),
        ]
    }

    // MARK: InterruptSource

    var interruptRequested: Bool { requestHint.flag.load(ordering: .acquiring) }

    func acknowledgeInterrupt() -> UInt8? {
        requestHint.flag.store(false, ordering: .relaxed)
        let vector = pic.acknowledgeIfRequested()
        // Another request may stand behind this one (or have arrived meanwhile).
        if pic.interruptRequested { requestHint.flag.store(true, ordering: .releasing) }
        return vector
    }

    /// Brings the timers up to the guest clock; returns the earliest next event.
    @discardableResult
    func pollTimers() -> UInt64? {
        // No array: this runs at every stop check and every wake-up.
        switch (pit.serviceTimer(), rtc.serviceTimer()) {
        case (let a?, let b?): return min(a, b)
        case (let a?, nil), (nil, let a?): return a
        case (nil, nil): return nil
        }
    }

    func poll() { pollTimers() }

    func waitForInterrupt(stop: StopSignal) -> Bool {
        while true {
            let deadline = pollTimers()
            if interruptRequested || stop.isRaised { return true }
            // No timer armed and no input that could still arrive: nothing can wake it.
            if deadline == nil && !inputAttached() { return false }
            idle.sleep(until: deadline, clock: clock, stop: stop) { interruptRequested || stop.isRaised }
        }
    }
}

/// The PIC's INT, as a flag the vCPU can read without a lock.
private final class RequestHint: Sendable {
    let flag = Atomic<Bool>(false)
}
