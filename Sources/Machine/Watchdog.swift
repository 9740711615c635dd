import Synchronization
import VMCore

#if canImport(Glibc)
    import Glibc
#endif

/// Stops the vCPU when the timeout passes or when SIGINT or SIGTERM arrives, so a guest that spins
/// forever never leaves the VMM hanging.
///
/// A dedicated thread sleeps in poll(2) on two pipes, one written by `cancel()` and one by the
/// signal handler (write(2) is async-signal-safe), with the timeout as poll's deadline. No Dispatch:
/// its worker pool can be saturated by the caller (a test runner), which would delay the timer.
final class Watchdog {
    private let cancelPipe: (read: Int32, write: Int32)
    private var thread: pthread_t?

    /// `probesHalts`: the vCPU's HLT waits in the kernel (KVM's irqchip), so the watchdog also
    /// runs the kicker's halt probe, 1 ms after the start and then at doubling intervals up to
    /// `HaltProbe.longestInterval`: a guest that halts for good is found within that long, at
    /// the cost of one short exit per interval while it runs.
    init(kicker: CPUKicker, timeout: Double?, probesHalts: Bool = false) {
        cancelPipe = makeWakePipe()
        SignalForwarding.install()
        let deadline = timeout.map { monotonicNanoseconds() + UInt64($0 * 1e9) }
        let watch = WatchContext(kicker: kicker, cancelFD: cancelPipe.read, deadline: deadline, probesHalts: probesHalts)
        thread = spawnThread { watch.run() }
    }

    /// Stops the watchdog thread and waits for it (it wakes at once).
    func cancel() {
        var one: UInt8 = 1
        _ = write(cancelPipe.write, &one, 1)
        if let thread { pthread_join(thread, nil) }
        thread = nil
        close(cancelPipe.read)
        close(cancelPipe.write)
    }
}

/// What the watchdog thread needs; Sendable so it can cross to that thread.
private struct WatchContext: Sendable {
    let kicker: CPUKicker
    let cancelFD: Int32
    let deadline: UInt64?
    let probesHalts: Bool

    func run() {
        // Process-directed SIGINT/SIGTERM go to a thread that does not block them; a parent that
        // started us from a thread pool may have left them blocked, so this thread takes them.
        SignalForwarding.unblockOnCurrentThread()
        var fds = [
            pollfd(fd: cancelFD, events: Int16(POLLIN), revents: 0), pollfd(fd: SignalForwarding.pipe.read, events: Int16(POLLIN), revents: 0),
        ]
        var probeInterval = HaltProbe.firstInterval
        var nextProbe = monotonicNanoseconds() + probeInterval
        while true {
            var waitMilliseconds: Int32 = -1
            if probesHalts && kicker.requestedStop == nil {
                let now = monotonicNanoseconds()
                if now >= nextProbe {
                    kicker.probeForHalt()
                    probeInterval = min(probeInterval * 2, HaltProbe.longestInterval)
                    nextProbe = now + probeInterval
                }
                waitMilliseconds = Int32((nextProbe - min(now, nextProbe) + 999_999) / 1_000_000)
            }
            if let deadline {
                let now = monotonicNanoseconds()
                if now >= deadline {
                    kicker.requestStop(.timedOut)
                    waitMilliseconds = -1  // keep waiting for cancel
                } else {
                    let untilDeadline = Int32(min((deadline - now + 999_999) / 1_000_000, UInt64(Int32.max)))
                    waitMilliseconds = waitMilliseconds < 0 ? untilDeadline : min(waitMilliseconds, untilDeadline)
                }
            }
            if kicker.requestedStop != nil { waitMilliseconds = -1 }
            let ready = poll(&fds, 2, waitMilliseconds)
            if ready < 0 && errno != EINTR { return }
            if fds[0].revents != 0 { return }
            if fds[1].revents != 0 {
                var drained = [UInt8](repeating: 0, count: 64)
                _ = read(SignalForwarding.pipe.read, &drained, drained.count)
                kicker.requestStop(.interrupted)
            }
        }
    }
}

/// How often the watchdog probes a vCPU whose HLT waits in the kernel.
enum HaltProbe {
    static let firstInterval: UInt64 = 1_000_000  // 1 ms
    static let longestInterval: UInt64 = 16_000_000  // 16 ms
}

/// SIGINT and SIGTERM become a write to a pipe that the watchdog polls.
enum SignalForwarding {
    static let pipe = makeWakePipe()
    /// The write end, stored before the handler is installed so the handler only loads it.
    static let writeFD = Atomic<Int32>(-1)
    private static let installed: Bool = {
        writeFD.store(pipe.write, ordering: .sequentiallyConsistent)
        var action = sigaction()
        action.__sigaction_handler.sa_handler = { _ in
            var one: UInt8 = 1
            _ = write(SignalForwarding.writeFD.load(ordering: .relaxed), &one, 1)
        }
        sigemptyset(&action.sa_mask)
        action.sa_flags = 0  // no SA_RESTART: a vCPU thread in KVM_RUN also returns with EINTR
        return sigaction(SIGINT, &action, nil) == 0 && sigaction(SIGTERM, &action, nil) == 0
    }()
    static func install() { _ = installed }

    static func unblockOnCurrentThread() {
        var signals = sigset_t()
        sigemptyset(&signals)
        sigaddset(&signals, SIGINT)
        sigaddset(&signals, SIGTERM)
        pthread_sigmask(SIG_UNBLOCK, &signals, nil)
    }
}

/// Starts a joinable thread running `body`, and returns once it runs our code, that is once
/// glibc has finished starting it: the seccomp filter that goes on after the machine's threads
/// exist does not allow the start-up's calls (set_robust_list, rseq...).
func spawnThread(_ body: @escaping @Sendable () -> Void) -> pthread_t? {
    final class Box: @unchecked Sendable {  // immutable after creation; handed to one thread
        let body: @Sendable () -> Void
        init(_ body: @escaping @Sendable () -> Void) { self.body = body }
    }
    var started: [Int32] = [-1, -1]
    let handshake = pipe(&started) == 0  // closed again before this returns
    let startedFD = handshake ? started[1] : -1
    defer {
        if handshake {
            close(started[0])
            close(started[1])
        }
    }
    let context = Unmanaged.passRetained(
        Box {
            var one: UInt8 = 1
            _ = write(startedFD, &one, 1)
            body()
        }
    ).toOpaque()
    var thread = pthread_t()
    let result = pthread_create(
        &thread, nil,
        { context in
            let box = Unmanaged<Box>.fromOpaque(context!).takeRetainedValue()
            box.body()
            return nil
        }, context)
    guard result == 0 else {
        Unmanaged<Box>.fromOpaque(context).release()
        return nil
    }
    if handshake {
        var byte: UInt8 = 0
        while read(started[0], &byte, 1) < 0 && errno == EINTR {}
    }
    return thread
}
