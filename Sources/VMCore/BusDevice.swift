/// What a device asks of the vCPU after an access.
public enum IOAction: Sendable, Equatable {
    /// Continue running the guest.
    case proceed
    /// End the run with this reason (the debug-exit port, the exit hypercall).
    case stop(StopReason)
    /// The access was a hypercall: the backend must call `GuestIO.hypercall(_:)` with the vCPU's
    /// registers, then write them back.
    case hypercall
}

/// A device model behind a range of ports or MMIO addresses.
///
/// Devices see offsets within their own range, never absolute addresses, and every access is
/// 1, 2, 4 or 8 bytes. Implementations are thread-safe (`Sendable`) because the bus is shared.
public protocol BusDevice: AnyObject, Sendable {
    /// A short name for statistics and logs ("serial", "debug-exit").
    var name: String { get }
    func read(offset: UInt64, width: AccessWidth) -> UInt64
    func write(offset: UInt64, width: AccessWidth, value: UInt64) -> IOAction
}
