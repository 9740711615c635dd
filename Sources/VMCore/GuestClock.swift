/// The one source of guest time: the TSC, PIT, RTC, LAPIC timer and kvmclock all read it, so a
/// guest that calibrates one against another gets agreeing answers.
///
/// Device models are pure and take the time as an argument (`now`, in guest nanoseconds since the
/// machine started); their wrappers read it from the clock. Timers compute deadlines rather than
/// tick, so an idle guest costs nothing.
public protocol GuestClock: AnyObject, Sendable {
    /// Guest nanoseconds since the machine started; never decreases.
    var nanoseconds: UInt64 { get }
}

/// Guest time that follows the host's monotonic clock.
public final class HostGuestClock: GuestClock {
    private let start: UInt64
    public init() { start = monotonicNanoseconds() }
    public var nanoseconds: UInt64 { monotonicNanoseconds() &- start }
}
