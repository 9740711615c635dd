import Devices
import Synchronization
import VMCore

#if canImport(Glibc)
    import Glibc
#endif

/// The PC platform's interrupt controllers and timers for the software backend: the 8259A pair,
/// the 8254 PIT (with port 0x61), the CMOS RTC, the I/O APIC and the vCPU's local APIC, plus
/// kvmclock, all on one guest clock, seen by the vCPU as its `InterruptSource`. (KVM keeps its
/// own PIC, PIT, I/O APIC and LAPIC in the kernel.)
final class SoftwarePlatform: InterruptSource {
    let clock: any GuestClock
    let pic: PICDevice
    let pit: PITDevice
    let rtc: RTCDevice
    let ioapic: IOAPICDevice
    let lapic: LocalAPICUnit
    /// Where the devices' lines go: the PIC and the I/O APIC (`PlatformInterruptRouter`).
    let router: PlatformInterruptRouter
    private let memory: GuestMemory?
    /// Wall-clock time when the guest clock read zero (the RTC's and kvmclock's epoch).
    private let bootTime: (seconds: Int64, nanoseconds: UInt32)
    private let idle: IdleWait
    /// Set when something may want the CPU (the PIC's INT rose, the LAPIC took a vector or an
    /// NMI), cleared when an acknowledge finds nothing: the vCPU reads it after every chain, so
    /// it must not take a lock. It may be true for nothing; it is never false while a request
    /// stands, because every request sets it after changing the state it reflects.
    private let requestHint: RequestHint
    private let clockVersion = Atomic<UInt32>(0)

    /// Whether host input can still raise a line (the UART's input has not ended).
    private let inputAttached: @Sendable () -> Bool

    /// `clock` is the guest clock (host time, or retired instructions with `--deterministic`);
    /// `wallClock` the host's wall-clock time at its zero, in seconds and nanoseconds since the
    /// Unix epoch.
    init(
        ramSize: UInt64, memory: GuestMemory? = nil, clock: any GuestClock = HostGuestClock(), wallClock: (Int64, UInt32)? = nil,
        inputAttached: (@Sendable () -> Bool)? = nil
    ) {
        self.clock = clock
        self.memory = memory
        self.inputAttached = inputAttached ?? { false }
        let idle = IdleWait()
        let hint = RequestHint()
        self.idle = idle
        requestHint = hint
        let requested: @Sendable () -> Void = {
            hint.flag.store(true, ordering: .sequentiallyConsistent)
            idle.wake()
        }
        pic = PICDevice(onInterruptRequest: requested)
        let lapic = LocalAPICUnit(clock: clock, physicalAddressBits: Int(CPUModel.softwareBackend.physicalAddressBits))
        self.lapic = lapic
        // The I/O APIC's deliveries land in the LAPIC; one it refuses (disabled, not selected)
        // leaves a level pin free to deliver again.
        let ioapic = IOAPICDevice { delivery in
            guard lapic.receive(delivery) else { return false }
            requested()
            return true
        }
        self.ioapic = ioapic
        router = PlatformInterruptRouter(pic: pic, ioapic: ioapic)
        pit = PITDevice(clock: clock, irq0: InterruptLine(gsi: PITDevice.irq, router: router))
        if let wallClock {
            bootTime = wallClock
        } else {
            var now = timespec()
            clock_gettime(CLOCK_REALTIME, &now)
            bootTime = (Int64(now.tv_sec), UInt32(now.tv_nsec))
        }
        rtc = RTCDevice(
            clock: clock, ramSize: ramSize, wallClock: bootTime.seconds, nanoseconds: UInt64(bootTime.nanoseconds),
            irq8: InterruptLine(gsi: RTCDevice.irq, router: router))
    }

    /// The platform's port ranges for the bus.
    var busDevices: [(BusRange, any BusDevice)] {
        pic.busDevices + [
            (BusRange(base: UInt64(PITDevice.port), size: PITDevice.portCount), pit),
            (BusRange(base: UInt64(SystemControlPortB.port), size: SystemControlPortB.portCount), pit.portB),
            (BusRange(base: UInt64(RTCDevice.port), size: RTCDevice.portCount), rtc),
        ]
    }

    /// The platform's MMIO ranges: the I/O APIC. (The LAPIC page is the vCPU's own, reached
    /// through `readLocalAPIC`, wherever IA32_APIC_BASE puts it.)
    var mmioDevices: [(BusRange, any BusDevice)] {
        [(BusRange(base: IOAPIC.defaultBase, size: IOAPICDevice.mmioSize), ioapic)]
    }

    // MARK: InterruptSource

    var interruptRequested: Bool { requestHint.flag.load(ordering: .acquiring) }

    func acknowledgeInterrupt() -> UInt8? {
        requestHint.flag.store(false, ordering: .sequentiallyConsistent)
        // The 8259 first when LINT0 passes it through (KVM's order too), then the LAPIC.
        var vector: UInt8? = nil
        if lapic.takesExtINT { vector = pic.acknowledgeIfRequested() }
        if vector == nil { vector = lapic.acknowledge() }
        // Another request may stand behind this one (or have arrived meanwhile).
        refreshRequestHint()
        return vector
    }

    func acknowledgeNMI() -> Bool {
        let taken = lapic.takeNMI()
        if taken { refreshRequestHint() }
        return taken
    }

    /// Sets the hint if anything is pending (never clears it: a request arriving on another
    /// thread meanwhile sets it on its own).
    private func refreshRequestHint() {
        if lapic.hasRequest || (pic.interruptRequested && lapic.takesExtINT) {
            requestHint.flag.store(true, ordering: .sequentiallyConsistent)
        }
    }

    /// Recomputes the hint exactly: true when something is pending. For the idle loop, which
    /// must not mistake a stale hint for a wake-up.
    private func requestStands() -> Bool {
        guard interruptRequested else { return false }
        requestHint.flag.store(false, ordering: .sequentiallyConsistent)
        refreshRequestHint()
        return interruptRequested
    }

    /// Brings the timers up to the guest clock; returns the earliest next event. `halted`: the
    /// vCPU waits in HLT, so the PIT may deliver a tick it owes (`PITDevice.serviceTimer`).
    @discardableResult
    func pollTimers(halted: Bool = false) -> UInt64? {
        // No array: this runs at every stop check and every wake-up.
        var next = pit.serviceTimer(reinjecting: halted)
        if let rtcNext = rtc.serviceTimer() { next = min(next ?? .max, rtcNext) }
        if let apicNext = lapic.serviceTimer() { next = min(next ?? .max, apicNext) }
        refreshRequestHint()
        return next
    }

    func poll() { pollTimers() }

    func waitForInterrupt(stop: StopSignal) -> Bool {
        while true {
            let deadline = pollTimers(halted: true)
            if requestStands() || stop.isRaised { return true }
            // No timer armed and no input that could still arrive: nothing can wake it.
            if deadline == nil && !inputAttached() { return false }
            if let instructionClock = clock as? InstructionClock, let deadline {
                // Deterministic time: a halted vCPU jumps to its next event instead of sleeping.
                instructionClock.skip(to: deadline)
                continue
            }
            idle.sleep(until: deadline, clock: clock, stop: stop) { interruptRequested || stop.isRaised }
        }
    }

    // MARK: The local APIC and platform MSRs

    var localAPICPage: UInt64? { lapic.pageAddress }

    func readLocalAPIC(offset: UInt64, width: AccessWidth) -> UInt64 { lapic.read(offset: offset, width: width) }

    func writeLocalAPIC(offset: UInt64, width: AccessWidth, value: UInt64) {
        switch lapic.write(offset: offset, width: width, value: value) {
        case .eoi(let vector, level: true): ioapic.endOfInterrupt(vector: vector)
        case .eoi, .none, .timerChanged: break
        case .sendIPI: break  // one vCPU: the part aimed at itself is delivered already
        }
        refreshRequestHint()
    }

    func readMSR(_ index: UInt32, tscOffset: UInt64) -> UInt64? {
        switch index {
        case LocalAPIC.baseMSR: return lapic.baseMSR
        case LocalAPIC.tscDeadlineMSR: return lapic.tscDeadline(tscOffset: tscOffset)
        case KVMClock.systemTimeMSR, KVMClock.wallClockMSR:
            return kvmclockMSRs.withLock { index == KVMClock.systemTimeMSR ? $0.systemTime : $0.wallClock }
        default: return nil
        }
    }

    func writeMSR(_ index: UInt32, value: UInt64, tscOffset: UInt64) -> Bool? {
        switch index {
        case LocalAPIC.baseMSR:
            guard lapic.writeBaseMSR(value) else { return false }
        case LocalAPIC.tscDeadlineMSR:
            lapic.writeTSCDeadline(value, tscOffset: tscOffset)
        case KVMClock.systemTimeMSR:
            kvmclockMSRs.withLock { $0.systemTime = value }
            // Bit 0 enables; the structure is written once, stable from then on (1 GHz TSC).
            if value & 1 != 0 {
                let now = clock.nanoseconds
                let version = clockVersion.add(2, ordering: .relaxed).newValue
                try? memory?.write(KVMClock.systemTime(nanoseconds: now, tsc: now &+ tscOffset, version: version), at: value & ~1)
            }
        case KVMClock.wallClockMSR:
            kvmclockMSRs.withLock { $0.wallClock = value }
            let version = clockVersion.add(2, ordering: .relaxed).newValue
            try? memory?.write(KVMClock.wallClock(bootSeconds: bootTime.seconds, bootNanoseconds: bootTime.nanoseconds, version: version), at: value)
        default:
            return nil
        }
        refreshRequestHint()
        return true
    }

    /// The kvmclock MSRs as last written (RDMSR returns them).
    private let kvmclockMSRs = Mutex<(systemTime: UInt64, wallClock: UInt64)>((0, 0))
}

/// The platform's request hint, as a flag the vCPU can read without a lock.
private final class RequestHint: Sendable {
    let flag = Atomic<Bool>(false)
}
