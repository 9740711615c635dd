#if canImport(Glibc)
    import Glibc
#endif

/// A close-on-exec pipe whose ends never block (a full pipe already says "wake up"), for waking
/// threads that sleep in poll(2); (-1, -1) if the process is out of descriptors.
public func makeWakePipe() -> (read: Int32, write: Int32) {
    var fds: [Int32] = [-1, -1]
    guard pipe(&fds) == 0 else { return (-1, -1) }
    for fd in fds {
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
    }
    return (fds[0], fds[1])
}
