import Synchronization

/// A failure of the backend itself (not of the guest), with the operation that failed.
public struct CPUError: Error, Sendable, Equatable, CustomStringConvertible {
    public var operation: String
    public var errno: Int32
    public var message: String
    public init(operation: String, errno: Int32, message: String) {
        self.operation = operation
        self.errno = errno
        self.message = message
    }
    public var description: String { "\(operation) failed: \(message)" }
}

/// Lets another thread stop a running vCPU (for `--timeout` and signals).
///
/// The backend installs `interrupt` while it runs; `requestStop` records the reason first, so a
/// vCPU that is between two runs of the guest sees it before entering the guest again.
public final class CPUKicker: Sendable {
    private let pending = Mutex<StopReason?>(nil)
    /// Set once a stop is pending: the run loop polls this on every exit without taking a lock.
    private let stopPending = Atomic<Bool>(false)
    private let interrupt = Mutex<(@Sendable () -> Void)?>(nil)
    /// Raised with the first stop request, for waits outside the vCPU (console output) to give up.
    public let stopSignal = StopSignal()

    public init() {}

    /// Asks the vCPU to stop with `reason`; the first request wins.
    public func requestStop(_ reason: StopReason) {
        let isFirst = pending.withLock { current in
            guard current == nil else { return false }
            current = reason
            return true
        }
        guard isFirst else { return }
        stopPending.store(true, ordering: .releasing)
        stopSignal.raise()
        interrupt.withLock { $0?() }
    }

    /// The stop asked for, if any.
    public var requestedStop: StopReason? {
        guard stopPending.load(ordering: .acquiring) else { return nil }
        return pending.withLock { $0 }
    }

    /// Called by a backend whose HLT waits inside the hypervisor (KVM with its in-kernel LAPIC):
    /// `action` makes the vCPU leave the guest briefly and check whether it halted for good (with
    /// interrupts disabled), which it cannot report otherwise. Nil once the vCPU has stopped.
    public func setHaltProbe(_ action: (@Sendable () -> Void)?) {
        haltProbe.withLock { $0 = action }
    }

    /// Runs the halt probe, if the backend set one (the watchdog calls this now and then).
    public func probeForHalt() { haltProbe.withLock { $0?() } }

    private let haltProbe = Mutex<(@Sendable () -> Void)?>(nil)

    /// Called by the backend: `action` forces the vCPU out of the guest. Pass nil once the vCPU
    /// thread has stopped running so that no late request touches it.
    public func setInterrupt(_ action: (@Sendable () -> Void)?) {
        interrupt.withLock { $0 = action }
    }
}

/// One virtual CPU, backed by KVM or by the software emulator.
public protocol VirtualCPU: ~Copyable {
    func registers() throws(CPUError) -> Registers
    func setRegisters(_ registers: Registers) throws(CPUError)
    func systemRegisters() throws(CPUError) -> SystemRegisters
    func setSystemRegisters(_ registers: SystemRegisters) throws(CPUError)
    /// Runs the guest, handing device accesses to `io`, until something stops it.
    mutating func run(io: some GuestIO, kicker: CPUKicker) throws(CPUError) -> StopReason
    /// Exit counts and guest time accumulated over all runs so far.
    var statistics: CPUStatistics { get }
}
