import Synchronization
import VMCore

#if canImport(Glibc)
    import Glibc
#endif

/// Where guest console output ends up (stdout, a file, a test's recorder).
public protocol ConsoleSink: AnyObject, Sendable {
    /// Writes `bytes`, waiting for the output to drain unless `stop` is raised first; returns how
    /// many bytes were not written (given up on, or refused by a closed output).
    func write(_ bytes: UnsafeRawBufferPointer, unlessStopped stop: StopSignal) -> Int
}

/// The console the devices write to (the UART and the console-write hypercall share it): a sink,
/// the machine's stop signal, and a count of the bytes that could not be written.
public final class Console: Sendable {
    public let sink: any ConsoleSink
    private let stop: StopSignal
    private let unwritten = Atomic<Int>(0)

    public init(_ sink: any ConsoleSink, stop: StopSignal = StopSignal()) {
        self.sink = sink
        self.stop = stop
    }

    public func write(_ bytes: UnsafeRawBufferPointer) {
        let left = sink.write(bytes, unlessStopped: stop)
        if left > 0 { unwritten.add(left, ordering: .relaxed) }
    }

    /// Bytes the guest wrote that never reached the output (it was closed, or not being read when
    /// the run stopped).
    public var unwrittenBytes: Int { unwritten.load(ordering: .relaxed) }
}

/// Console output to a file descriptor (stdout by default), written unbuffered so that output
/// and a crash report never appear out of order.
///
/// No byte is dropped while the reader keeps up: a full pipe makes the writer wait in poll(2),
/// which also watches the stop signal, so `--timeout` and Ctrl-C end a run whose stdout nobody
/// reads. Writes are at most `PIPE_BUF` bytes, which a pipe that polls writable takes at once.
public final class FileDescriptorConsole: ConsoleSink {
    private let fd: Int32
    public init(fd: Int32 = STDOUT_FILENO) { self.fd = fd }

    public func write(_ bytes: UnsafeRawBufferPointer, unlessStopped stop: StopSignal) -> Int {
        var remaining = bytes
        while !remaining.isEmpty {
            guard waitUntilWritable(stop) else { return remaining.count }
            let written = Glibc.write(fd, remaining.baseAddress, min(remaining.count, Int(PIPE_BUF)))
            if written < 0 && (errno == EINTR || errno == EAGAIN) { continue }
            // A closed output (EPIPE) or a failing one must not stop the guest: the rest is lost.
            guard written > 0 else { return remaining.count }
            remaining = UnsafeRawBufferPointer(rebasing: remaining[written...])
        }
        return 0
    }

    /// False when the output is not writable and the stop signal is raised: after a stop, what
    /// can be written at once still is, but nothing waits.
    private func waitUntilWritable(_ stop: StopSignal) -> Bool {
        var fds = [pollfd(fd: fd, events: Int16(POLLOUT), revents: 0), pollfd(fd: stop.fd, events: Int16(POLLIN), revents: 0)]
        while true {
            let ready = poll(&fds, 2, stop.isRaised ? 0 : -1)
            if ready < 0 && errno == EINTR { continue }
            // Writable, or POLLERR/POLLHUP on the output (write reports it), or poll failed.
            if ready < 0 || fds[0].revents != 0 { return true }
            if stop.isRaised { return false }
        }
    }
}
