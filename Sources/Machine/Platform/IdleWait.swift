import CHostTime
import Synchronization
import VMCore

#if canImport(Glibc)
    import Glibc
#endif

/// A device whose time-driven events (a PIT period, an RTC update, a LAPIC timer) the platform
/// brings up to date; it computes its next deadline instead of ticking.
protocol PlatformTimer: AnyObject, Sendable {
    /// Raises the lines of the events due at or before guest time `now`.
    func advance(to now: UInt64)
    /// Guest time of the next event, if one is scheduled.
    var nextDeadline: UInt64? { get }
}

/// Where a halted software vCPU sleeps: in poll(2) on a wake pipe (written when a device raises
/// an interrupt from another thread) and the stop signal, with the next timer deadline as the
/// timeout, so an idle guest costs the host nothing between its events.
final class IdleWait: Sendable {
    private let pipe = makeWakePipe()
    /// Whether a vCPU is in (or about to enter) `sleep`: only then does a wake-up write the pipe,
    /// so an interrupt raised by the vCPU's own timer service costs no system call.
    private let sleeping = Atomic<Bool>(false)

    deinit {
        close(pipe.read)
        close(pipe.write)
    }

    /// Wakes a vCPU sleeping in `sleep` (or makes its next sleep return at once).
    func wake() {
        guard sleeping.load(ordering: .sequentiallyConsistent) else { return }
        var one: UInt8 = 1
        _ = write(pipe.write, &one, 1)
    }

    /// Sleeps until woken, `stop` is raised, or guest time `deadline` (read from `clock`) passes,
    /// unless `awake()` says there is something to do already. (The flag is set before that last
    /// look, and a waker sets its condition before reading the flag: no wake-up is lost.)
    func sleep(until deadline: UInt64?, clock: any GuestClock, stop: StopSignal, unless awake: () -> Bool) {
        sleeping.store(true, ordering: .sequentiallyConsistent)
        defer { sleeping.store(false, ordering: .relaxed) }
        if awake() { return }
        var timeout: Int64 = -1
        if let deadline {
            let now = clock.nanoseconds
            guard deadline > now else { return }
            timeout = Int64(min(deadline - now, 3_600_000_000_000))
        }
        // On the stack: this runs at every tick of an idle guest.
        var fds = (pollfd(fd: pipe.read, events: Int16(POLLIN), revents: 0), pollfd(fd: stop.fd, events: Int16(POLLIN), revents: 0))
        let woken = withUnsafeMutableBytes(of: &fds) { buffer in
            let pointer = buffer.baseAddress!.assumingMemoryBound(to: pollfd.self)
            _ = chosttime_poll_nanoseconds(pointer, 2, timeout)
            return pointer[0].revents != 0
        }
        if woken {
            var drain: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
            _ = withUnsafeMutableBytes(of: &drain) { read(pipe.read, $0.baseAddress, $0.count) }
        }
    }
}
