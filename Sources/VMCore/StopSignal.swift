import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// A one-shot signal that a thread blocked in poll(2) can wait on: code that must wait for the
/// host (console output draining into a full pipe) polls `fd` too, so a stop request always
/// wins over the wait.
public final class StopSignal: Sendable {
    /// Readable once the signal is raised.
    public let fd: Int32
    private let writeFD: Int32
    private let raised = Atomic<Bool>(false)

    public init() {
        // Without a pipe the signal still works for `isRaised`; poll ignores an fd of -1.
        (fd, writeFD) = makeWakePipe()
    }

    deinit {
        if fd >= 0 { close(fd) }
        if writeFD >= 0 { close(writeFD) }
    }

    /// Raises the signal; later calls do nothing.
    public func raise() {
        guard !raised.exchange(true, ordering: .acquiringAndReleasing) else { return }
        var one: UInt8 = 1
        _ = write(writeFD, &one, 1)
    }

    public var isRaised: Bool { raised.load(ordering: .acquiring) }
}
