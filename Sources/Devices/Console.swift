#if canImport(Glibc)
    import Glibc
#endif

/// Where guest console output goes (the UART and the console-write hypercall share it).
public protocol ConsoleSink: AnyObject, Sendable {
    func write(_ bytes: UnsafeRawBufferPointer)
}

/// Console output to a file descriptor (stdout by default), written unbuffered so that output
/// and a crash report never appear out of order.
public final class FileDescriptorConsole: ConsoleSink {
    private let fd: Int32
    public init(fd: Int32 = STDOUT_FILENO) { self.fd = fd }

    public func write(_ bytes: UnsafeRawBufferPointer) {
        var remaining = bytes
        while !remaining.isEmpty {
            let written = Glibc.write(fd, remaining.baseAddress, remaining.count)
            if written < 0 && errno == EINTR { continue }
            // A closed or full output must not stop the guest; the bytes are dropped.
            guard written > 0 else { return }
            remaining = UnsafeRawBufferPointer(rebasing: remaining[written...])
        }
    }
}
